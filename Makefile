# The two commands: `make run` (set up, migrate, seed the demo, start the app) and
# `make test` (set up, then lint, import contracts and every test). Both install
# what is missing and nothing else.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
TOOLS := .tools
BUN_VERSION := 1.4.4
BUN := $(TOOLS)/node_modules/.bin/bun
LOCK := requirements.lock
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
DATA_DIR ?= $(CURDIR)/data
STANDIN_PORT ?= 8765
WORKERS ?= 2
REFRESHERS ?= 2

export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_USE_SYSTEM_BUN := 1
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(BIN):$(PATH)
export CONNECTIONS_DATA_DIR ?= $(DATA_DIR)

.PHONY: help run run-scaled test deps lock migrate seed lint e2e unit bench clean

help:
	@echo "make run    set up, migrate, seed the demo and start the app (http://localhost:3000)"
	@echo "make run-scaled  the same on PostgreSQL + Redis, WORKERS=2 app workers, REFRESHERS=2 refreshers"
	@echo "make test   set up and run lint, import contracts, unit, integration and e2e tests"
	@echo "make bench  benchmarks on SQLite and PostgreSQL (figures and ratios, see docs/benchmarks.md)"
	@echo "make lock   re-resolve requirements.lock (exact versions + hashes) from pyproject.toml"
	@echo "make migrate | seed | lint | unit | e2e | clean"

# Every dependency from the lock (exact versions, hashes checked), then this project
# itself without resolving anything again.
$(VENV)/.installed: pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# Re-resolve the newest versions pyproject.toml allows; review the diff, run `make test`.
lock: deps
	@test -x $(TOOLS)/uv/bin/uv || ($(PYTHON) -m venv $(TOOLS)/uv && \
	  $(TOOLS)/uv/bin/python -m pip install --quiet uv==$(UV_VERSION))
	$(BIN)/python scripts/requirements_lock.py --write --uv $(TOOLS)/uv/bin/uv

$(BUN):
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)

deps: $(VENV)/.installed $(BUN)

$(DATA_DIR):
	@mkdir -p $(DATA_DIR) && chmod 700 $(DATA_DIR)

migrate: deps | $(DATA_DIR)
	$(BIN)/connections-admin db upgrade

seed: migrate
	$(BIN)/connections-admin demo seed

run: seed
	@scripts/run-dev.sh $(STANDIN_PORT)

# PostgreSQL and Redis on loopback, migrations, the demo seed, the stand-in, the
# refreshers and the app (prod build) with several workers; Ctrl-C stops them all.
run-scaled: deps | $(DATA_DIR)
	$(BIN)/python scripts/run_scaled.py --workers $(WORKERS) --refreshers $(REFRESHERS) \
	  --standin-port $(STANDIN_PORT)

lint: deps
	$(BIN)/python scripts/requirements_lock.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

unit: deps
	$(BIN)/pytest tests/unit

e2e: deps
	$(BIN)/pytest tests/e2e

# Everything, then the OAuth lifecycle and banner e2e again on `make run-scaled`'s own
# set (PostgreSQL, Redis, two workers, two refresher processes).
test: lint
	scripts/with-postgres.sh $(BIN)/pytest
	E2E_STACK=scaled $(BIN)/pytest tests/e2e/test_oauth.py

BENCHES := list_connections credential_resolve picker refresher runs

# Each benchmark on SQLite, then each on its own throwaway PostgreSQL cluster so
# that no run sees another's rows. The refresher's goal is for PostgreSQL (10,000
# connections, 1/2/4 processes); on SQLite it prints a 1,000-connection reference.
bench: deps
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py; done
	for b in $(BENCHES); do \
	  scripts/with-postgres.sh bash -c '$(BIN)/python bench/'$$b'.py --db-url "$$TEST_DB_URL"'; \
	done
	$(BIN)/python bench/browser.py --db sqlite
	$(BIN)/python bench/browser.py --db postgres

clean:
	rm -rf .web .states test-results .pytest_cache .ruff_cache
