# Two entry points, both self-installing and idempotent:
#   make test    create .venv if missing, install pinned deps, lint, run the test suite
#   make repro   same set-up, then regenerate every result with DVC
#                (GRID=study|fashion|mini and/or PROFILE=paper|quick|smoke compose params.yaml first)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROFILE ?=
GRID ?=

.PHONY: install test lint repro clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

test: install lint
	$(PY) -m pytest -q

repro: install
	@if [ -n "$(PROFILE)$(GRID)" ]; then \
	  $(VENV)/bin/weightswitch params --grid $(or $(GRID),study) --profile $(or $(PROFILE),paper); fi
	source $(VENV)/bin/activate && dvc repro

clean-venv:
	rm -rf $(VENV)
