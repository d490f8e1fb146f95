#!/usr/bin/env bash
# Gate: build the collection tarball, install it into an empty collections path (no Galaxy: --no-deps,
# kubernetes.core comes with the ansible package), and run a module from the installed copy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$root"
ansible-galaxy collection build --force --output-path "$tmp/dist" >/dev/null
tarball="$(ls "$tmp"/dist/auditops-deckhouse-*.tar.gz)"
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) entries)"
if tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.cluster|\.collections|\.git)/' >/dev/null; then
  echo "tarball contains development files" >&2; exit 1
fi
ansible-galaxy collection install --no-deps -p "$tmp/installed" "$tarball" >/dev/null
cd "$tmp"  # away from the work tree and its ansible.cfg
export ANSIBLE_CONFIG=/dev/null ANSIBLE_COLLECTIONS_PATH="$tmp/installed"
out="$(ansible localhost -c local -m auditops.deckhouse.audit_policy -a 'preset=minimal' 2>&1)" || { echo "$out" >&2; exit 1; }
echo "$out" | grep -q '"apiserver_accepts": true' || { echo "unexpected module output: $out" >&2; exit 1; }
echo "installed collection runs: auditops.deckhouse.audit_policy preset=minimal accepted"
