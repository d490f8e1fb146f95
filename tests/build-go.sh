#!/usr/bin/env bash
# Build one Go program from the Go module proxy through a small wrapper module and print the binary's path.
#   tests/build-go.sh DIR     DIR holds go.mod, go.sum and *.go (package main); the binary is named after DIR
# Wrappers in the repo: tests/cluster/kube-apiserver, tests/master/kubelet, tests/master/crictl (a subset on
# k8s.io/cri-client; the proxy refuses cri-tools), bench/go/* (benchmark programs).
# A wrapper that requires k8s.io/kubernetes gets its version stamped like a release build. The binary is keyed
# by the wrapper's content, so a second call is instant; GOMODCACHE/GOCACHE live in one per-user cache shared
# by every wrapper, so a build after the kube-apiserver's reuses most packages.
set -euo pipefail
src="$(cd "${1:?usage: build-go.sh WRAPPER_DIR}" && pwd)"
name="$(basename "$src")"
[ -f "$src/go.mod" ] || { echo "no wrapper module in $src (go.mod missing)" >&2; exit 1; }
cache="${AUDITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditops-deckhouse}"
key="$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go 2>/dev/null | sha256sum | cut -c1-16)"
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")"
ldflags="-s -w"
if [ -n "$version" ]; then
  minor="$(echo "$version" | cut -d. -f2)"
  ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
else
  # Name the binary after the first k8s.io module it builds on (cri-client-v0.33.13, apiserver-v0.33.13).
  version="$(awk '$1 ~ /^k8s\.io\// && $2 ~ /^v/ {sub("k8s.io/", "", $1); print $1 "-" $2; exit}' "$src/go.mod")"
  version="${version:-local}"
fi
out="$cache/bin/$name-$version-$key"
if [ ! -x "$out" ]; then
  mkdir -p "$cache/bin"
  echo "building $name $version from the Go module proxy: once per machine (minutes the first time), then" \
       "cached in $cache/bin" >&2
  export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS=-mod=mod GOTOOLCHAIN=local
  # A line every AUDITOPS_BUILD_PROGRESS_SECONDS (60) while go build, silent itself, runs. One-second sleeps and
  # no standard output, so a caller reading this script's output is never held up by a sleep left behind.
  every="${AUDITOPS_BUILD_PROGRESS_SECONDS:-60}"
  (n=0; while sleep 1; do n=$((n + 1)); if [ $((n % every)) = 0 ]; then echo "still building $name: $n s" >&2; fi
   done) >/dev/null &
  ticker=$!
  trap 'kill "$ticker" 2>/dev/null || true' EXIT
  start=$SECONDS
  # Default cgo setting for every wrapper: same build IDs, so the shared GOCACHE is reused.
  # A temporary name of this process's own: make test builds side by side (pytest workers, bench-smoke).
  (cd "$src" && go build -o "$out.tmp.$$" -ldflags "$ldflags" .)
  mv "$out.tmp.$$" "$out"
  echo "built $name in $((SECONDS - start)) s; later runs reuse $out" >&2
fi
echo "$out"
