# Two commands do all the set-up on a fresh machine:
#   make run    serve the API on 127.0.0.1:8000 with the embedded SQLite default
#   make test   lint, type-check and run the whole test suite
# Inner loop: make test-fast (no test that starts a process; well under a minute).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/billing migrate
	$(BIN)/billing serve

lint: $(STAMP)
	$(BIN)/ruff check billing tests testkit migrations benchmarks
	$(BIN)/ruff format --check billing tests testkit migrations benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -m "not e2e"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) billing.db billing.db-wal billing.db-shm
