#!/usr/bin/env bash
# Build the Debian node image for molecule with debootstrap + podman import (no registry is
# reachable). The tag carries a hash of this script, so the image is built once per machine and
# rebuilt only when the recipe changes. Prints the image reference.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="$here/containers.conf"
name="localhost/auditops-node"
tag="$(sha256sum < "$0" | cut -c1-12)"
mirror="${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
mirror="${mirror:-http://deb.debian.org/debian}"
if ! podman image exists "$name:$tag"; then
  for tool in debootstrap podman; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run 'make deps' first" >&2; exit 1; }
  done
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap bookworm into $root (once per machine)" >&2
  debootstrap --variant=minbase --include=python3,python-is-python3,python3-yaml,iproute2,procps,ca-certificates \
    bookworm "$root" "$mirror" >&2
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/sleep", "infinity"]' - "$name:$tag" >&2
  # Images from older recipes are dead weight now.
  podman images --format '{{.Repository}}:{{.Tag}}' "$name" | grep -v -e ":$tag\$" -e ':latest$' | xargs -r podman rmi >&2 || true
fi
podman tag "$name:$tag" "$name:latest"
echo "$name:$tag"
