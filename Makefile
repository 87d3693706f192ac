# Two commands do all the set-up on a fresh machine:
#   make run    serve the API on 127.0.0.1:8000 (SQLite, the example config)
#   make test   lint, type-check and run the whole test suite
# Inner loop: make test-fast (no test that starts a process; well under a minute).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make run` installs the runtime dependencies only; lint/test/bench add the dev ones.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
# The config `make run` serves with; override: `make run BILLING_CONFIG=my.yaml`,
# or `make run BILLING_CONFIG=` for the built-in defaults (balances off).
BILLING_CONFIG ?= examples/librechat.yaml

.PHONY: run test test-fast lint bench clean

$(RUNTIME_STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(RUNTIME_STAMP)
	$(BIN)/billing migrate
	BILLING_CONFIG='$(BILLING_CONFIG)' $(BIN)/billing serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check billing tests testkit migrations benchmarks
	$(BIN)/ruff format --check billing tests testkit migrations benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: $(DEV_STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -m "not e2e"

bench: $(DEV_STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) billing.db billing.db-wal billing.db-shm
