#!/usr/bin/env bash
# Build kube-apiserver from the Go module proxy (wrapper module in ./kube-apiserver) and print the
# binary's path. The result is cached by the content of the wrapper, so a second call is instant;
# GOMODCACHE/GOCACHE live in a stable per-user cache so a rebuild after a change is quick too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/kube-apiserver"
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")"
[ -n "$version" ] || { echo "no k8s.io/kubernetes requirement in $src/go.mod" >&2; exit 1; }
minor="$(echo "$version" | cut -d. -f2)"
cache="${AUDITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditops-deckhouse}"
key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
out="$cache/bin/kube-apiserver-$version-$key"
if [ ! -x "$out" ]; then
  mkdir -p "$cache/bin"
  echo "building kube-apiserver $version (first time on this machine takes several minutes)" >&2
  export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS=-mod=mod GOTOOLCHAIN=local
  (cd "$src" && go build -o "$out.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" .)
  mv "$out.tmp" "$out"
fi
echo "$out"
