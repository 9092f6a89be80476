# Two entry points, both self-installing and idempotent:
#   make test    create .venv if missing, install pinned deps, lint, run the test suite
#   make repro   same set-up, then regenerate every result with DVC, on the workspace's grid x
#                profile (conf/config.yaml; committed: fashion x quick). GRID=... and/or PROFILE=...
#                switch the workspace first (weightswitch params), e.g. make repro PROFILE=smoke
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
	$(VENV)/bin/weightswitch params $(if $(GRID),--grid $(GRID)) $(if $(PROFILE),--profile $(PROFILE))
	source $(VENV)/bin/activate && dvc repro

clean-venv:
	rm -rf $(VENV)
