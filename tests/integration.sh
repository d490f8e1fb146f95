#!/usr/bin/env bash
# ansible-test integration --local on a copy of the work tree (see tests/ansible-test.sh): the targets in
# tests/integration/targets/ need no cluster and no containers; they run the modules on this host with the
# Python of the venv. Usage: tests/integration.sh [TARGET...] [ansible-test option...]
exec "$(dirname "$0")/ansible-test.sh" integration --local --color no "$@"
