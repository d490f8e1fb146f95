#!/usr/bin/env bash
# Gate: build the collection tarball, install it into an empty collections path (no Galaxy: --no-deps,
# kubernetes.core comes with the ansible package), and run a module from the installed copy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Away from the work tree's ansible.cfg (it points at the linked work tree): an empty config.
: > "$tmp/ansible.cfg"
cd "$root"
ansible-galaxy collection build --force --output-path "$tmp/dist" >/dev/null
tarball="$(ls "$tmp"/dist/auditops-deckhouse-*.tar.gz)"
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) entries)"
if tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.ansible|\.cluster|\.collections|\.git)/' >/dev/null; then
  echo "tarball contains development files" >&2; exit 1
fi
ANSIBLE_CONFIG="$tmp/ansible.cfg" ansible-galaxy collection install --force --no-deps -p "$tmp/installed" "$tarball" >/dev/null
cd "$tmp"
export ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$tmp/installed"
out="$(ansible localhost -c local -m auditops.deckhouse.audit_policy -a 'preset=minimal' 2>&1)" || { echo "$out" >&2; exit 1; }
echo "$out" | grep -q '"apiserver_accepts": true' || { echo "unexpected module output: $out" >&2; exit 1; }
echo "installed collection runs: auditops.deckhouse.audit_policy preset=minimal accepted"
