"""Container images of the test master, built locally as OCI archives (no registry is reachable).

* ``pause``: the pod sandbox image, a static C program (``images/pause.c``) compiled with gcc.
* ``kube-apiserver``: the kube-apiserver binary from tests/cluster/build-kube-apiserver.sh plus the
  host's shared libraries it links (it is built with cgo), found with ``ldd``.

Each archive is one uncompressed layer, a config and a manifest in an OCI layout whose index names
the image (``io.containerd.image.name``), so ``ctr -n k8s.io images import`` stores it under that
name. The archive is deterministic (fixed mtimes and owners), so its content key caches it.

Command line: ``python images.py build OUTDIR APISERVER_BINARY PAUSE_SOURCE`` prints ``name=path``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

PAUSE_IMAGE = "localhost/auditops/pause:3.10"
APISERVER_IMAGE_REPO = "localhost/auditops/kube-apiserver"


def _tar_layer(entries):
    """entries: list of (path in image, host file path or None for a directory, mode). Returns bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, source, mode in sorted(entries):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "root", "root", mode
            if source is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                with open(source, "rb") as handle:
                    data = handle.read()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _parents(paths):
    dirs = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            dirs.add(parent)
            parent = os.path.dirname(parent)
    return dirs


def _blob(tar, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def write_image(out_path, name, files, entrypoint=None, env=("PATH=/usr/local/bin:/usr/bin:/bin",), dirs=()):
    """Write an OCI archive for image ``name``. files: {path in image: host path}; dirs: extra (path, mode)."""
    entries = [(path, source, 0o755 if os.access(source, os.X_OK) else 0o644) for path, source in files.items()]
    explicit = dict(dirs)
    entries += [(d, None, explicit.pop(d, 0o755)) for d in _parents(list(files) + list(explicit))]
    entries += [(d, None, mode) for d, mode in explicit.items()]
    layer = _tar_layer(entries)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": list(env), "Entrypoint": list(entrypoint) if entrypoint else None, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "tests/master/images.py", "created": "1970-01-01T00:00:00Z"}],
    }
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        layer_desc = _blob(tar, layer, "application/vnd.oci.image.layer.v1.tar")
        config_desc = _blob(tar, json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = _blob(tar, json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
        manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        for member, payload in (("oci-layout", {"imageLayoutVersion": "1.0.0"}),
                                ("index.json", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                                "manifests": [manifest_desc]})):
            data = json.dumps(payload, sort_keys=True).encode()
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, out_path)
    return out_path


def shared_libraries(binary):
    """Host paths of the shared libraries ``binary`` loads (empty for a static binary)."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False).stdout
    if "not a dynamic executable" in out or "statically linked" in out:
        return []
    libs = []
    for line in out.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            libs.append(match.group(1))
    return libs


def _key(*paths):
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    with open(os.path.abspath(__file__), "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def build_pause(outdir, source):
    """Compile pause.c statically and wrap it as PAUSE_IMAGE; returns (image name, archive path)."""
    os.makedirs(outdir, exist_ok=True)
    key = _key(source)
    archive = os.path.join(outdir, "pause-%s.oci.tar" % key)
    if not os.path.exists(archive):
        binary = os.path.join(outdir, "pause-%s" % key)
        subprocess.run(["gcc", "-static", "-Os", "-s", "-o", binary, source], check=True)
        write_image(archive, PAUSE_IMAGE, {"/pause": binary}, entrypoint=["/pause"])
        os.unlink(binary)
    return PAUSE_IMAGE, archive


def build_apiserver(outdir, binary, tag):
    """kube-apiserver at /usr/local/bin plus its libraries at their host paths; returns (name, archive)."""
    os.makedirs(outdir, exist_ok=True)
    libs = shared_libraries(binary)
    name = "%s:%s" % (APISERVER_IMAGE_REPO, tag)
    archive = os.path.join(outdir, "kube-apiserver-%s-%s.oci.tar" % (tag, _key(binary, *libs)))
    if not os.path.exists(archive):
        files = {"/usr/local/bin/kube-apiserver": binary}
        # The loader finds a library by the path ldd printed; copy the file behind any symlink.
        files.update({lib: os.path.realpath(lib) for lib in libs})
        write_image(archive, name, files, dirs=[("/tmp", 0o1777)])
    return name, archive


def main(argv):
    if len(argv) != 5 or argv[1] != "build":
        print("usage: images.py build OUTDIR APISERVER_BINARY PAUSE_SOURCE", file=sys.stderr)
        return 2
    outdir, apiserver, pause_source = argv[2:5]
    version = subprocess.run([apiserver, "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout.split()[-1]
    for label, (name, path) in (("pause", build_pause(outdir, pause_source)),
                                ("apiserver", build_apiserver(outdir, apiserver, version))):
        print("%s_image=%s" % (label, name))
        print("%s_archive=%s" % (label, path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
