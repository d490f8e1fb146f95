#!/usr/bin/env bash
# Build one Go program of the test master from the Go module proxy and print the binary's path.
#   build-go.sh kubelet   k8s.io/kubernetes/cmd/kubelet through the wrapper module ./kubelet
#   build-go.sh crictl    the crictl subset in ./crictl (k8s.io/cri-client; the proxy refuses cri-tools)
# Same caching as tests/cluster/build-kube-apiserver.sh: the binary is keyed by the wrapper's content,
# GOMODCACHE/GOCACHE are shared with the kube-apiserver build (a kubelet build reuses most packages).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:?usage: build-go.sh kubelet|crictl}"
src="$here/$name"
[ -f "$src/go.mod" ] || { echo "no wrapper module $src" >&2; exit 1; }
cache="${AUDITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditops-deckhouse}"
key="$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go 2>/dev/null | sha256sum | cut -c1-16)"
case "$name" in
  kubelet)
    version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")"
    minor="$(echo "$version" | cut -d. -f2)"
    pkg=.
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ;;
  crictl)
    version="$(awk '$1 == "k8s.io/cri-client" && $2 ~ /^v/ {print "cri-client-" $2; exit}' "$src/go.mod")"
    pkg=.
    ldflags="-s -w"
    ;;
  *) echo "unknown program $name" >&2; exit 1 ;;
esac
[ -n "$version" ] || { echo "no version found in $src/go.mod" >&2; exit 1; }
out="$cache/bin/$name-$version-$key"
if [ ! -x "$out" ]; then
  mkdir -p "$cache/bin"
  echo "building $name $version (first time on this machine takes a few minutes)" >&2
  export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS=-mod=mod GOTOOLCHAIN=local
  # Default cgo setting, like the kube-apiserver build: same build IDs, so the shared GOCACHE is reused.
  (cd "$src" && go build -o "$out.tmp" -ldflags "$ldflags" "$pkg")
  mv "$out.tmp" "$out"
fi
echo "$out"
