# irdrive — quick start: `make demo` (runs the payments failover against the lab), `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The test suite runs its own lab in a separate folder and port range.
TEST_LAB_DIR ?= $(CURDIR)/.state/test-lab
TEST_PORT_BASE ?= 17800
PYTEST_ARGS ?=
# Test files run on this many workers, each with its own lab (2 cores: 2 workers).
PYTEST_WORKERS ?= 2
BENCH_ARGS ?=

.PHONY: help install system-deps ext-collections demo lab-up lab-down test test-incidents drills lint sanity unit integration bench clean

help:
	@echo "make demo   build the venv, start the lab, inject processor-down, run payments-failover"
	@echo "make test   lint + unit + integration tests and drills (starts and stops its own lab)"
	@echo "make drills every drill, the chaos variants included, on its own lab"
	@echo "make test-incidents  the incident tests make test leaves out (marker incidents_extra)"
	@echo "make lint   ruff, mypy (driver/, lab/), ansible-lint (production profile), make sanity"
	@echo "make sanity ansible-test sanity on the collection (compile, import, validate-modules) on the"
	@echo "            hosts' Pythons 3.9 and 3.11 and the controller's 3.12 and 3.13 (SANITY_PYTHONS=...)"
	@echo "make bench  time the five incident runbooks (slowest steps), payments-failover vs shell and"
	@echo "            direct API calls, block-ips on 3 and 30 hosts, an API step vs debug (BENCH_ARGS=--json)"

install: $(STAMP) system-deps ext-collections

$(STAMP): pyproject.toml
	@PYBIN=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$PYBIN"; $$PYBIN -m venv $(VENV); fi
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,awx]' 'python-dateutil<3' 2>&1 \
	  | grep -v "^WARNING: Location" || true
	@$(PY) -c 'import irdrive, irdrive_lab, ansible_runner, kubernetes, moto' || { echo "error: install failed" >&2; exit 1; }
	@touch $@

system-deps:
	@scripts/system-deps

# awx.awx (awx/configure.yml and its tests) from the ansible 13.8.0 wheel: see the script.
ext-collections: $(STAMP)
	@scripts/ext-collections $(PY) .state/ext-collections

# The demo records itself as an incident: opened, the run in its timeline, resolved, shown.
demo: install
	$(BIN)/irdrive lab up
	$(BIN)/irdrive lab reset
	$(BIN)/irdrive lab fault processor-down
	@set -e; inc=$$($(BIN)/irdrive incident open --severity P1 --service payments \
	  --title "Payments failing: primary processor down (lab demo)" --commander "$${USER:-demo}"); \
	echo "+ irdrive run payments-failover --yes --incident $$inc"; \
	$(BIN)/irdrive run payments-failover --yes --incident $$inc; \
	$(BIN)/irdrive incident resolve $$inc --note "payments on the backup processor, verified"; \
	$(BIN)/irdrive incident show $$inc

lab-up: install
	$(BIN)/irdrive lab up

lab-down:
	$(BIN)/irdrive lab down

# ansible-test sanity: modules and module_utils run on the host's Python (3.9 and later), the
# other plugins on the controller's (3.12 and later). About 75 s of CPU with warm environments.
SANITY_PYTHONS ?= 3.9 3.11 3.12 3.13
sanity: install
	SANITY_PYTHONS="$(SANITY_PYTHONS)" IRDRIVE_BIN=$(CURDIR)/$(BIN) scripts/sanity

lint: install sanity
	$(BIN)/ruff check driver lab tests bench collections
	$(BIN)/ruff format --check driver lab tests bench collections
	$(BIN)/mypy
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg $(BIN)/ansible-lint --profile production playbooks roles collections/ansible_collections/irdrive/ops rulebooks molecule
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/collections:$(CURDIR)/.state/ext-collections \
	  $(BIN)/ansible-lint --profile production awx execution-environment.yml collections/requirements.yml

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The drills (five incident runbooks, the two api-flaky chaos variants and a broken runbook copy;
# molecule against a lab of their own) run beside the test workers from the start: xdist hands out the files with the most tests
# first, so a one-test file of drills would otherwise run last, alone, on one core.
DRILL_TESTS := tests/integration/test_drills.py tests/integration/test_drills_chaos.py
DRILL_PORT_BASE ?= 18100
# Lint runs beside the tests (it is mostly one core's work while the tests wait on the lab);
# its output is printed when it ends, and a lint failure fails the target.
test: install
	@set -o pipefail; status=0; mkdir -p .state; \
	$(MAKE) --no-print-directory lint > .state/lint.log 2>&1 & lint=$$!; \
	IRDRIVE_TEST_LAB_DIR=$(TEST_LAB_DIR)-drills IRDRIVE_TEST_PORT_BASE=$(DRILL_PORT_BASE) \
	  $(BIN)/pytest -p no:cacheprovider -n 0 --durations=5 -m "not chaos_drill" $(DRILL_TESTS) \
	  > .state/drills.log 2>&1 & drills=$$!; \
	IRDRIVE_TEST_LAB_DIR=$(TEST_LAB_DIR) IRDRIVE_TEST_PORT_BASE=$(TEST_PORT_BASE) \
	  $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile --durations=25 \
	  -m "not incidents_extra" $(foreach f,$(DRILL_TESTS),--ignore=$(f)) $(PYTEST_ARGS) \
	  || status=$$?; \
	wait $$drills || { status=1; echo "error: the drills failed:" >&2; }; \
	cat .state/drills.log; \
	for dir in $(TEST_LAB_DIR) $(TEST_LAB_DIR)-gw* $(TEST_LAB_DIR)-drills $(TEST_LAB_DIR)-eda; do \
	  [ -d $$dir ] && $(BIN)/irdrive lab --lab-dir $$dir down --purge >/dev/null 2>&1; \
	done; \
	wait $$lint || { status=1; echo "error: make lint failed:" >&2; }; \
	cat .state/lint.log; \
	exit $$status

# The incident tests make test leaves out (marker incidents_extra): a real lab run's timeline,
# the rulebook's incident playbook, the post commands and alert intake on PostgreSQL.
test-incidents: install
	@set -o pipefail; status=0; mkdir -p .state; \
	IRDRIVE_TEST_LAB_DIR=$(CURDIR)/.state/incident-lab IRDRIVE_TEST_PORT_BASE=$(TEST_PORT_BASE) \
	  $(BIN)/pytest -p no:cacheprovider -n 0 -m incidents_extra tests/integration || status=$$?; \
	$(BIN)/irdrive lab --lab-dir $(CURDIR)/.state/incident-lab down --purge >/dev/null 2>&1; \
	exit $$status

# Every drill, on a lab of its own: make test's, and the chaos drill whose bounded retries run
# out (marker chaos_drill; make test leaves it out to stay inside CI's 25 minutes).
drills: install
	@set -o pipefail; status=0; mkdir -p .state; \
	IRDRIVE_TEST_LAB_DIR=$(CURDIR)/.state/drill-lab IRDRIVE_TEST_PORT_BASE=$(TEST_PORT_BASE) \
	  $(BIN)/pytest -p no:cacheprovider -n 0 -s $(DRILL_TESTS) || status=$$?; \
	$(BIN)/irdrive lab --lab-dir $(CURDIR)/.state/drill-lab down --purge >/dev/null 2>&1; \
	exit $$status

# BENCH_ARGS: --rounds N, --json (one JSON object on stdout), --only SECTION|RUNBOOK.
bench: install
	@$(PY) -m bench $(BENCH_ARGS)

clean:
	-$(BIN)/irdrive lab down
	rm -rf $(VENV) .state
