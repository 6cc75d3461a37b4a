# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench chromium

# One stamp per extra: the demo needs only `.[demo]` (a homeserver), the tests `.[dev]`. A venv made by
# `make demo` gets the dev extra when `make test` first runs in it; one made by `make test` already has
# all the demo needs. Either stamp is redone when pyproject.toml changes.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BIN)/.installed-demo: pyproject.toml | $(BIN)/python
	[ $(BIN)/.installed-dev -nt pyproject.toml ] || $(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(BIN)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed-demo
	$(BIN)/refdesk demo

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# Two pytest workers (pytest-xdist), each with its own Synapse, Chromium and PostgreSQL schema: most tests wait on
# a homeserver, a browser or a subprocess, so two overlap well even on two cores (the whole suite in about five
# minutes on a 2-core machine). `make test TEST_WORKERS=3` tries three; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(BIN)/.installed-dev chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(BIN)/.installed-dev
	$(BIN)/python -m bench
