# Self-documenting: `make help` lists every target with its `##` comment.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv from PATH, else as a module of $(PYTHON) (installed with pip when absent).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: help setup demo test audit lint format ui up down bench clean fuzz chromium

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked
	@touch $@

setup: $(BIN)/.synced ## Create or update the environment from uv.lock (installs uv if absent)

demo: setup ## Generate data, train, register and print the champion
	$(BIN)/mlops demo

# Two pytest workers, a test file each at a time (module fixtures stay in one worker; each
# worker starts its own Prefect test server), the heaviest files first (tests/conftest.py).
# One process used about one of the two cores: most tests wait on servers and subprocesses.
# TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
# The tests audit the lock too: an advisory found fails them, but a machine without a route to
# the advisory services (a build sandbox) prints NOT AUDITED and goes on. `make audit` is the
# release gate: there, what cannot be audited fails.
# The browser tests (the MLflow and Evidently UIs) need Debian's chromium: installed here with
# apt-get when missing (as root), else a clear error; the tests never skip without it.
CHROMIUM := /usr/bin/chromium
chromium: ## Debian's chromium for the browser tests (apt-get as root when /usr/bin/chromium is missing)
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "$(CHROMIUM) is missing: the browser tests need it; install it as root with" \
			"'apt-get install -y --no-install-recommends chromium' (Debian) and run make test again" >&2; \
		exit 1; \
	fi; \
	DEBIAN_FRONTEND=noninteractive apt-get update -q \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
		&& test -x $(CHROMIUM)

test: setup lint chromium ## Lint, type-check, audit the lock (what is reachable) and run every test
	AUDIT_OFFLINE_OK=1 $(BIN)/python .ci/audit.py --uv "$(UV)"
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

FUZZ_TESTS = tests/unit/test_fuzz_endpoint.py tests/unit/test_fuzz_parsers.py
fuzz: setup ## The fuzz tests (schemathesis on the endpoint, Hypothesis on the parsers) with 100x the examples CI runs (FUZZ_PROFILE=fuzz; ~25 min)
	FUZZ_PROFILE=fuzz $(BIN)/pytest -p no:randomly -q --hypothesis-show-statistics $(FUZZ_TESTS)

audit: setup ## uv.lock against PyPI's and OSV's advisories (pip-audit): fails closed, see .ci/audit.py
	$(BIN)/python .ci/audit.py --uv "$(UV)"

lint: setup ## ruff (lint + format check), mypy, and the import contracts (layers, cycles, one adapter per library)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: setup ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

ui: setup ## Open the MLflow UI on 127.0.0.1:5000
	$(BIN)/mlops ui

up: setup ## Start Prefect, MLflow, Evidently, the runner and the endpoint in the background
	$(BIN)/mlops up

down: ## Stop what `make up` started
	$(BIN)/mlops down

bench: setup ## Run the benchmarks and write benchmarks/results/
	$(BIN)/python -m benchmarks.run

clean: ## Remove generated pipeline outputs (data/processed, models; keeps data/raw and the registry)
	rm -rf data/processed models
