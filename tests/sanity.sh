#!/usr/bin/env bash
# Run ansible-test sanity on a copy of the work tree placed at
# <tmp>/ansible_collections/auditops/deckhouse (ansible-test requires that path).
# Usage: tests/sanity.sh [--test NAME] [PATH...]   (paths are relative to the collection root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/ansible_collections/auditops/deckhouse"
mkdir -p "$dest"
# Only what git tracks or would track (respects .gitignore), so local caches stay out.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$root" && xargs -0 cp --parents -t "$dest" 2>/dev/null || true)
cd "$dest"
# ansible-test lists files through git when a repo is present; give it one.
git init -q && git add -A >/dev/null
export PATH="$venv/bin:$PATH"
exec ansible-test sanity --color no --venv --python 3.11 "$@"
