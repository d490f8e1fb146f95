#!/usr/bin/env bash
# Build execution-environment.yml into an image with ansible-builder and podman on this machine, as AWX
# users build it from theirs. No registry is reachable here, so two inputs are local stand-ins, written into
# a derived definition (the checked-in one stays what users build):
#   - the base image: base.Containerfile on the debootstrapped node image (tests/nodes/build-node-image.sh)
#     instead of quay.io/ansible/awx-ee, with apt-get as the package manager;
#   - kubernetes.core: the copy that `pip install ansible` put into the venv, packed as a collection
#     artifact (its MANIFEST.json and FILES.json are in it) instead of a download from Galaxy.
# pip (PyPI) and apt (Debian) run inside the build with the host's network.
# The image tag is a hash of everything that goes into it, so an unchanged tree reuses the image.
# Prints the image reference; the build's output goes to standard error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="$root/tests/nodes/containers.conf"
export PATH="${VENV:-$root/.venv}/bin:$PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
node="$("$root/tests/nodes/build-node-image.sh")"
mkdir -p "$work/base/extra-ca"
cp /usr/local/share/ca-certificates/*.crt "$work/base/extra-ca/" 2>/dev/null || true
base="localhost/auditops-ee-base:$( (cat "$here/base.Containerfile" "$work"/base/extra-ca/* 2>/dev/null
                                     podman image inspect --format '{{.Id}}' "$node") | sha256sum | cut -c1-12)"
if ! podman image exists "$base"; then
  echo "building the EE base image $base" >&2
  podman build -q --network host --build-arg "NODE_IMAGE=$node" -f "$here/base.Containerfile" -t "$base" \
    "$work/base" >&2
fi
(cd "$root" && ansible-galaxy collection build --force --output-path "$work" >/dev/null)
kube_core="$(python -c 'import ansible_collections.kubernetes.core as m; print(list(m.__path__)[0])')"
kube_version="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$kube_core/MANIFEST.json")"
# The ansible package leaves a few files of the release out (.github, tests): the artifact lists what is there.
python - "$kube_core" "$work/kube-core" <<'PY'
import hashlib
import json
import os
import shutil
import sys
src, dest = sys.argv[1:]
shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
with open(os.path.join(dest, "FILES.json")) as handle:
    files = json.load(handle)
files["files"] = [entry for entry in files["files"] if entry["name"] == "." or os.path.lexists(os.path.join(dest, entry["name"]))]
text = json.dumps(files, indent=4).encode()
with open(os.path.join(dest, "FILES.json"), "wb") as handle:
    handle.write(text)
with open(os.path.join(dest, "MANIFEST.json")) as handle:
    manifest = json.load(handle)
manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(text).hexdigest()
with open(os.path.join(dest, "MANIFEST.json"), "w") as handle:
    json.dump(manifest, handle, indent=4)
PY
(cd "$work/kube-core" && find . -mindepth 1 -maxdepth 1 -printf "%P\n" | tar -czf "$work/kubernetes-core-$kube_version.tar.gz" -T -)
rm -rf "$work/kube-core"
cp "$root/requirements.txt" "$root/bindep.txt" "$work/"
python - "$root/execution-environment.yml" "$work/execution-environment.yml" "$base" \
  "kubernetes-core-$kube_version.tar.gz" <<'PY'
import sys
import yaml
src, dest, base, kube = sys.argv[1:]
with open(src) as handle:
    definition = yaml.safe_load(handle)
definition["images"]["base_image"]["name"] = base
definition.setdefault("options", {}).update(package_manager_path="/usr/bin/apt-get", skip_pip_install=True)  # the base has pip
definition.setdefault("build_arg_defaults", {}).update({
    "PKGMGR_PRESERVE_CACHE": "always",  # `apt-get clean all` is not an apt-get command
    "ANSIBLE_GALAXY_CLI_COLLECTION_OPTS": "--offline",
})
collections = definition["dependencies"]["galaxy"]["collections"]
for entry in collections:
    if entry["name"] == "kubernetes.core":
        entry.clear()
        entry.update(name=kube, type="file")
definition["additional_build_files"].append({"src": kube, "dest": "."})
with open(dest, "w") as handle:
    yaml.safe_dump(definition, handle, sort_keys=False)
PY
# The collection's tests/ are left out of the key: a change to a test does not change what runs in the image.
key="$( (cat "$work/execution-environment.yml" "$work/requirements.txt" "$work/bindep.txt"
         for artifact in "$work"/*.tar.gz; do
           tar -xzOf "$artifact" FILES.json | python -c 'import json, sys
print(json.dumps([entry for entry in json.load(sys.stdin)["files"] if not entry["name"].startswith("tests/")]))'
         done) |
  sha256sum | cut -c1-12)"
image="localhost/auditops-deckhouse-ee:$key"
if ! podman image exists "$image"; then
  echo "ansible-builder build $image" >&2
  (cd "$work" && ansible-builder build --container-runtime podman -f execution-environment.yml -c context \
     -t "$image" --extra-build-cli-args '--network host' -v 2 >&2)
  # Images of older trees are dead weight now.
  podman images --format '{{.Repository}}:{{.Tag}}' localhost/auditops-deckhouse-ee | grep -v ":$key\$" |
    xargs -r podman rmi >&2 || true
fi
echo "$image"
