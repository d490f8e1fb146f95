#!/usr/bin/env bash
# Build everything the test master needs and print it as name=value lines (read by master.py):
#   kubelet, crictl           Go programs from the Go module proxy (tests/build-go.sh)
#   apiserver                 kube-apiserver (tests/cluster/build-kube-apiserver.sh)
#   pause_*, apiserver_*      OCI image archives built locally (images.py; no registry is reachable)
#   containerd, runc, ctr     from Debian (apt-get install containerd runc gcc libc6-dev when missing)
# Everything is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/auditops-deckhouse, so a second call is instant.
# Fresh machine, warm apiserver build: about 5 minutes (kubelet ~4, rest ~1); cold: add the apiserver's build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${AUDITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditops-deckhouse}"

missing=""
for pkg in containerd runc gcc libc6-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing" >&2
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  # The package enables a systemd unit; nothing starts it where systemd is not running, and the
  # test master never uses the machine's containerd: it runs its own with its own directories.
  $sudo apt-get update -qq >&2
  # shellcheck disable=SC2086  # word splitting wanted: one argument per package
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

python="${PYTHON:-python3}"
apiserver="$("$here/../cluster/build-kube-apiserver.sh" | tail -n1)"
echo "apiserver=$apiserver"
echo "kubelet=$("$here/../build-go.sh" "$here/kubelet" | tail -n1)"
echo "crictl=$("$here/../build-go.sh" "$here/crictl" | tail -n1)"
"$python" "$here/images.py" build "$cache/images" "$apiserver" "$here/images/pause.c"
echo "containerd=$(command -v containerd)"
echo "ctr=$(command -v ctr)"
echo "runc=$(command -v runc)"
