#!/usr/bin/env bash
# Build the execution environment (tests/ee/build.sh, cached) and run the demo play inside it the way AWX
# runs a job - ansible-runner with podman process isolation, the collection and kubernetes.core from the image, not from
# this checkout - against a fresh local test apiserver on loopback (the container uses the host's network).
# Then the same play outside the EE on another fresh apiserver, for the wall times side by side.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export CONTAINERS_CONF="$root/tests/nodes/containers.conf"
export PATH="${VENV:-$root/.venv}/bin:$PATH"
start=$(date +%s)
image="$("$root/tests/ee/build.sh")"
built=$(date +%s)
echo "ee: $image ready in $((built - start)) s, $(podman image inspect --format '{{.Size}}' "$image" |
  awk '{printf "%.0f MB", $1 / 1e6}')"
work="$(mktemp -d)"
cleanup() { python "$root/tests/cluster/harness.py" down --dir "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/runner/project" "$work/runner/env" "$work/runner/inventory"
# The inventory of make demo: the controller (here the EE container) in k8s_api, with the Python that runs Ansible.
cp "$root/tests/integration/inventory/hosts.yml" "$work/runner/inventory/hosts.yml"
# A project as AWX checks it out: a playbook that runs the collection's demo play by its name.
printf -- '---\n- name: Demo from the execution environment\n  ansible.builtin.import_playbook: auditops.deckhouse.demo\n' \
  > "$work/runner/project/demo.yml"
# Plain output (ansible-runner asks for colour), so the recap can be read back below.
printf 'K8S_AUTH_KUBECONFIG: %s\nANSIBLE_NOCOLOR: "1"\nANSIBLE_FORCE_COLOR: "0"\n' "$work/cluster/kubeconfig" \
  > "$work/runner/env/envvars"
python "$root/tests/cluster/harness.py" up --dir "$work/cluster" >/dev/null
t0=$(date +%s.%N)
# ansible-runner with process isolation in the image, as AWX runs a job (ansible-navigator does the same but
# wants a /dev/mqueue this sandbox lacks).
ansible-runner run "$work/runner" -p demo.yml --process-isolation --process-isolation-executable podman \
  --container-image "$image" --container-option=--network=host --container-option=--pull=never --container-option=--user=0 \
  --container-volume-mount "$work/cluster:$work/cluster:Z" > "$work/inside.log" 2>&1 ||
  { tail -40 "$work/inside.log"; echo "ee: the demo play failed inside the EE" >&2; exit 1; }
t1=$(date +%s.%N)
grep -q 'failed=0' "$work/inside.log" || { tail -40 "$work/inside.log"; exit 1; }
python "$root/tests/cluster/harness.py" down --dir "$work/cluster" >/dev/null
python "$root/tests/cluster/harness.py" up --dir "$work/cluster" >/dev/null
t2=$(date +%s.%N)
(cd "$root" && K8S_AUTH_KUBECONFIG="$work/cluster/kubeconfig" ansible-playbook -i tests/integration/inventory playbooks/demo.yml) > "$work/outside.log" 2>&1 ||
  { tail -40 "$work/outside.log"; echo "ee: the demo play failed outside the EE" >&2; exit 1; }
t3=$(date +%s.%N)
grep 'localhost *:' "$work/inside.log" | tail -1 | sed 's/^/ee: inside  /' || true
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
  'BEGIN {printf "ee: demo wall time inside the EE %.1f s, outside %.1f s\n", b - a, d - c}'
