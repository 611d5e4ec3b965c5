# Two commands do all the set-up on a machine with Python 3.11 and make:
#   make demo   run the example DAG end-to-end against the built-in MoEngage emulator
#   make test   lint, type-check and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9
LINT_PATHS := $(wildcard airflow_provider_moengage dags_examples tests benchmarks scripts)

.PHONY: install demo test lint unit benchmark clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q

test: lint unit

benchmark: install
	$(BIN)/python benchmarks/triggers.py

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
