#!/usr/bin/env bash
# ansible-test sanity on a copy of the work tree (see tests/ansible-test.sh).
# Usage: tests/sanity.sh [--test NAME] [PATH...]   (paths are relative to the collection root)
exec "$(dirname "$0")/ansible-test.sh" sanity --color no --venv --python 3.11 "$@"
