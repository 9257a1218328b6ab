# The two commands a fresh machine needs (see README):
#   make run    install into .venv and start the hub in paper mode
#   make test   install into .venv and run every check and test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= enigma-apex.toml

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/enigma-apex --config $(CONFIG) init --exist-ok
	$(BIN)/enigma-apex --config $(CONFIG) up

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
