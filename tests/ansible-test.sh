#!/usr/bin/env bash
# Run ansible-test on a copy of the work tree placed at <tmp>/ansible_collections/auditops/deckhouse
# (ansible-test requires that path). tests/sanity.sh and tests/integration.sh call it.
# Usage: tests/ansible-test.sh COMMAND [ARG...]   (e.g. sanity --test pep8 plugins/; integration --local)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/ansible_collections/auditops/deckhouse"
mkdir -p "$dest"
# Only what git tracks or would track (respects .gitignore), so local caches stay out.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$root" && { xargs -0 cp --parents -t "$dest" 2>/dev/null || true; })  # tracked files deleted in the work tree are skipped
cd "$dest"
# ansible-test writes its own inventory to tests/integration/inventory; in the copy that path is the pytest
# suite's inventory directory, which ansible-test integration does not use.
if [ "${1:-}" = integration ]; then rm -rf tests/integration/inventory; fi
# ansible-test lists files through git when a repo is present; give it one.
git init -q && git add -A >/dev/null
export PATH="$venv/bin:$PATH"
# ansible-test bootstraps pip in its venvs with a get-pip script from a host this machine cannot
# reach. It takes a cached copy from ~/.ansible/test/cache; put a stand-in there that does the same
# job with the standard library's ensurepip and then installs the requested pip from PyPI.
at_dir="$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')"
pip_version="$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" "$at_dir/_internal/python_requirements.py" | head -1)"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$get_pip" ]; then
  mkdir -p "$(dirname "$get_pip")"
  # Written under a name of this process's own, then renamed: make test runs gates side by side.
  cat > "$get_pip.$$" <<'PY'
# Stand-in for get-pip.py written by auditops.deckhouse tests/sanity.sh (the original host is unreachable).
import subprocess
import sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
  mv "$get_pip.$$" "$get_pip"
fi
exec ansible-test "$@"
