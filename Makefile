# auditops.deckhouse — every entry point installs what it needs (apt packages, venv, Go build).
#   make demo   the collection configures a local, real kube-apiserver
#   make test   all tests and gates (what CI runs)
#   make bench  benchmarks at full size (make bench-smoke: the small size CI runs)
#   make docs   the HTML docs site in build/docs (antsibull-docs + Sphinx), checked in headless Chromium
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV      := $(CURDIR)/.venv
BIN       := $(VENV)/bin
LINK      := $(CURDIR)/.collections/ansible_collections/auditops/deckhouse
APT_PKGS  := etcd-server podman runc debootstrap fuse-overlayfs slirp4netns uidmap containernetworking-plugins git rsync shellcheck containerd gcc libc6-dev jq
BENCHES   := $(sort $(wildcard bench/bench_*.py))
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

export ANSIBLE_CONFIG   := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF  := $(CURDIR)/tests/nodes/containers.conf
export PATH             := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help deps venv link apiserver master node-image prepare unit integration pytest lint sanity integration-targets molecule build \
        docs-check docs docs-site ee-image ee bench bench-smoke test demo cluster-up cluster-down clean

help:
	@sed -n '2,5p' Makefile

## --- setup ------------------------------------------------------------------------------
deps:  ## Debian packages: etcd, podman (runc), debootstrap
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt test-requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r test-requirements.txt
	touch $@

venv: $(VENV)/.installed

link:  ## the work tree as ansible_collections/auditops/deckhouse, for ansible and the tests
	@mkdir -p $(dir $(LINK)); [ -L $(LINK) ] || ln -s $(CURDIR) $(LINK)

apiserver: ## build kube-apiserver from the Go module proxy (cached)
	@tests/cluster/build-kube-apiserver.sh

node-image: deps  ## Debian node image for molecule (debootstrap + podman import, cached)
	@tests/nodes/build-node-image.sh

master: deps apiserver  ## kubelet, crictl subset and local images for the recovery end-to-end test (cached)
	@tests/master/build.sh >/dev/null

# The builds are slow only the first time on a machine; run them side by side (the kubelet
# build reuses the apiserver's Go cache, so it comes after it).
prepare: deps venv link
	@$(MAKE) --no-print-directory -j2 master node-image

## --- gates ------------------------------------------------------------------------------
unit: venv link
	$(BIN)/pytest tests/unit

integration: prepare
	$(BIN)/pytest tests/integration

# Unit and integration in one pytest run; exit 5 (nothing collected) fails like any other error.
# pytest-xdist spreads the test files over PYTEST_WORKERS processes (--dist loadfile: a file's tests stay in
# one process, so its module fixtures - a started kube-apiserver, a master node - are shared as before; each
# process has its own session cluster). PYTEST_WORKERS=0 runs everything in this process.
# --no-loadscope-reorder: files are handed out in collection order, which tests/conftest.py starts with the
# slowest files (xdist's default, most tests first, left the few long integration files for the end).
# --durations=30: the CI log lists the 30 slowest setups, calls and teardowns, so it shows where the time went.
PYTEST_WORKERS ?= 2
pytest: prepare
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30 tests/unit tests/adversarial tests/integration

lint: venv link
	$(BIN)/ansible-lint --profile production

sanity: venv
	tests/sanity.sh

# ansible-test integration --local on tests/integration/targets/ (no cluster, no containers).
integration-targets: venv
	tests/integration.sh

molecule: prepare
	@for s in $(SCENARIOS); do echo "== molecule scenario $$s"; $(BIN)/molecule test -s $$s; done

# Build the tarball, install it into an empty path and run a module from the installed copy.
build: venv
	tests/build-and-try.sh

docs-check: venv
	$(BIN)/python tools/role_docs.py --check

## --- docs site: antsibull-docs + Sphinx into build/docs, checked for broken links and in headless Chromium ---
DOCS_INPUTS = $(shell git ls-files docs plugins roles/*/meta galaxy.yml tools/docs_site.sh tools/check_docs_site.py 2>/dev/null)

$(VENV)/.docs-installed: docs/site/requirements.txt $(VENV)/.installed
	$(BIN)/pip install -q -r docs/site/requirements.txt
	touch $@

# Rebuilt only when an input changed (build/docs/.inputs holds their hash); the browser check runs where
# chromium is installed (make docs installs it, make test does not).
docs-site: venv link $(VENV)/.docs-installed
	@key=$$(cat $(DOCS_INPUTS) | sha256sum | cut -c1-16); \
	if [ "$$(cat build/docs/.inputs 2>/dev/null)" != "$$key" ]; then \
	  start=$$(date +%s); tools/docs_site.sh build/docs >/dev/null; echo "$$key" > build/docs/.inputs; \
	  echo "docs site built in $$(( $$(date +%s) - start )) s: build/docs/index.html"; \
	else echo "docs site up to date: build/docs/index.html"; fi
	$(BIN)/python tools/check_docs_site.py build/docs --screenshots build/docs-screenshots

docs:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@$(MAKE) --no-print-directory docs-site

## --- benchmarks: each bench/bench_*.py prints one comparison table; --smoke is a small size for CI ----------
bench: prepare
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b; done

bench-smoke: prepare
	@for b in $(BENCHES); do echo "== $$b --smoke"; $(BIN)/python $$b --smoke; done

# The gates are independent: two at a time (pytest beside the others in turn), each one's output printed
# whole when it ends. Longest first, so that no long gate starts last and runs alone (timed one by one on
# 2026-12-03 at load ~12: bench-smoke ~975 s once kubectl is cached, integration-targets 229 s, lint 173 s,
# build 22 s, docs-check 0 s; bench-smoke used to come last).
# Each gate ends with a line "gate NAME: N s" (its wall time, the two-at-a-time run included), so a CI log
# shows where make test's time went.
GATES := pytest molecule bench-smoke sanity integration-targets lint docs-site build docs-check

test: prepare
	$(MAKE) --no-print-directory -j2 --output-sync=target $(addprefix timed-,$(GATES))
	@echo "make test: all gates passed"

timed-%:
	@start=$$(date +%s); $(MAKE) --no-print-directory $*; echo "gate $*: $$(( $$(date +%s) - start )) s"

## --- execution environment (tests/ee): ansible-builder + podman on a local base image, cached by content ---
ee-image: prepare
	@tests/ee/build.sh

$(VENV)/.ee-installed: tests/ee/requirements.txt $(VENV)/.installed
	$(BIN)/pip install -q -r tests/ee/requirements.txt
	touch $@

# The demo play inside the image as AWX runs a job (ansible-runner, podman process isolation), then outside it.
ee: prepare $(VENV)/.ee-installed
	tests/ee/check.sh

## --- demo and the local cluster ---------------------------------------------------------
cluster-up: deps venv link apiserver
	$(BIN)/python tests/cluster/harness.py up --dir .cluster

cluster-down: venv
	$(BIN)/python tests/cluster/harness.py down --dir .cluster

# The inventory of docs/getting-started.md section 9 (localhost in k8s_api, the venv's Python): no "No inventory
# was parsed" warnings, and the commands printed at the end run as they are (tests/integration/test_demo.py).
demo: cluster-up
	K8S_AUTH_KUBECONFIG=$(CURDIR)/.cluster/kubeconfig $(BIN)/ansible-playbook -i tests/integration/inventory playbooks/demo.yml
	@echo "The cluster keeps running for you: KUBECONFIG=$(CURDIR)/.cluster/kubeconfig; stop it with 'make cluster-down'."
	@echo "Try next, from this directory:"
	@echo "  . .venv/bin/activate; export K8S_AUTH_KUBECONFIG=$(CURDIR)/.cluster/kubeconfig"
	@echo "  ansible-playbook -i tests/integration/inventory auditops.deckhouse.verify    # read-only report of what the demo set"
	@echo "  python bench/gen_audit_log.py --events 20000 -o /tmp/audit.log               # a synthetic audit log, then:"
	@echo "  ansible-playbook -i tests/integration/inventory auditops.deckhouse.simulate -e auditops_masters_hosts=localhost -e simulate_become=false -e simulate_log=/tmp/audit.log"
	@echo "  docs/getting-started.md section 9 runs the whole site playbook here; docs/audit-simulate.md explains the simulation."

clean: cluster-down
	rm -rf .collections .pytest_cache tests/output
