#!/usr/bin/env bash
# Build the collection's HTML docs site (make docs): antsibull-docs writes the module, plugin and role pages
# from their documentation (the role pages from meta/argument_specs.yml, with C(), O() and V() rendered),
# the guides in docs/*.md go next to them, Sphinx builds the HTML. Warnings fail the build, so a broken
# cross-reference between the pages does too.
# Usage: tools/docs_site.sh [OUTPUT_DIR]   (default build/docs; open OUTPUT_DIR/index.html)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/docs}"
export PATH="${VENV:-$root/.venv}/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.collections"  # the work tree, linked by `make link`
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
mkdir -m 755 "$work/rst"  # antsibull-docs wants its destination writable by its owner only
antsibull-docs --config-file "$root/docs/site/antsibull-docs.cfg" collection --use-current \
  --dest-dir "$work/rst" auditops.deckhouse >&2
mkdir "$work/rst/guides"
# A guide's link out of docs/ (../examples/inventory/) names a file of the checkout; on the site it becomes
# that path as text.
python - "$root/docs" "$work/rst/guides" <<'PY'
import os
import re
import sys
src, dest = sys.argv[1:]
for name in sorted(os.listdir(src)):
    if name.endswith(".md"):
        with open(os.path.join(src, name)) as handle:
            text = handle.read()
        text = re.sub(r"\[([^\]]+)\]\(\.\./([^)]+)\)", r"\1 (in the repository)", text)
        with open(os.path.join(dest, name), "w") as handle:
            handle.write(text)
PY
{
  cat <<'RST'
auditops.deckhouse
==================

Kubernetes API auditing on Deckhouse clusters: the audit policy and settings, audit logs shipped to KUMA through
log-shipper, recovery of a kube-apiserver stopped by its audit configuration, and KESL on the nodes.

.. toctree::
   :maxdepth: 1
   :caption: Guides

RST
  echo "   guides/getting-started"
  for guide in "$work"/rst/guides/*.md; do
    name="$(basename "$guide" .md)"
    [ "$name" = getting-started ] || echo "   guides/$name"
  done
  cat <<'RST'

.. toctree::
   :maxdepth: 1
   :caption: Reference

   collections/auditops/deckhouse/index
   collections/index_module
   collections/index_role
   collections/index_filter
RST
} > "$work/rst/index.rst"
rm -f "$work/rst/collections/index.rst" "$work/rst/collections/auditops/index.rst"  # namespace lists of one
rm -rf "$out"
sphinx-build -q -b html -W --keep-going -c "$root/docs/site" "$work/rst" "$out" >&2
echo "$out/index.html"
