# The two commands a fresh machine needs (see README):
#   make run    install into .venv and start the hub in paper mode
#   make test   install into .venv and run every check and test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= enigma-apex.toml

.PHONY: run test lint clean system-deps

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
	MALLOC_ARENA_MAX=2 $(BIN)/enigma-apex --config $(CONFIG) up

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Tesseract (the second OCR engine), DejaVu fonts (the rendered OCR panels), Xvfb (a screen to capture) and
# Mono (compiles the NinjaScript files and runs the C# protocol client against the hub) and Chromium (the
# dashboard's browser tests, driven by Playwright) for the tests: installed with apt when missing.
system-deps:
	@missing=""; \
	command -v tesseract >/dev/null 2>&1 || missing="$$missing tesseract-ocr"; \
	command -v Xvfb >/dev/null 2>&1 || missing="$$missing xvfb"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	command -v mcs >/dev/null 2>&1 || missing="$$missing mono-devel"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  echo "installing$$missing"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

test: lint system-deps
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
