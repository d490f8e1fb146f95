#!/usr/bin/env bash
# Build kube-apiserver from the Go module proxy (wrapper module in ./kube-apiserver) and print the
# binary's path; caching as in tests/build-go.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../build-go.sh" "$here/kube-apiserver"
