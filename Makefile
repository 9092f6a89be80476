# Two entry points, both self-installing and idempotent (durations: README):
#   make test    create .venv if missing, install pinned deps, lint, run the test suite
#   make repro   same set-up, then regenerate every result with DVC, on the workspace's grid x
#                profile (conf/config.yaml; committed: fashion x quick, 110 stages, hours).
#                GRID=... and/or PROFILE=... switch the workspace first (weightswitch params:
#                params.yaml and dvc.lock become the pair's); at the end the lock is copied
#                beside the pair's report (weightswitch lock save), to commit with it
#   make smoke   the 5-minute check (grid mini x profile smoke) in a throwaway worktree of this
#                tree (committed files plus uncommitted edits) under SMOKE: this tree, its
#                params, lock and reports stay exactly as they were
# Both run `weightswitch repro`: `dvc repro` plus, at each stage start, "stage k of n (m done
# this repro), ETA ~X" (n planned from `dvc status` and the DAG; the ETA from the stages
# finished so far, per method, known once one stage has finished).
# Data offline: `weightswitch fetch` takes a local copy by itself (the folders of
# WEIGHTSWITCH_MIRROR, then Debian's dataset-fashion-mnist) and says which.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROFILE ?=
GRID ?=
SMOKE ?= $(or $(TMPDIR),/tmp)/weightswitch-smoke

.PHONY: install test lint repro smoke clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check src tests studies scripts
	$(VENV)/bin/ruff format --check src tests studies scripts

test: install lint
	$(PY) -m pytest -q

repro: install
	$(VENV)/bin/weightswitch params $(if $(GRID),--grid $(GRID)) $(if $(PROFILE),--profile $(PROFILE))
	@echo "make repro: $$($(VENV)/bin/weightswitch dag --summary); stages already done are skipped"
	source $(VENV)/bin/activate && weightswitch repro && weightswitch lock save

smoke: install
	rm -rf $(SMOKE) && git worktree prune
	git worktree add -q -f --detach $(SMOKE) HEAD
	git diff HEAD --binary | (cd $(SMOKE) && git apply --allow-empty)
	cd $(SMOKE) && source $(CURDIR)/$(VENV)/bin/activate && weightswitch params --grid mini --profile smoke \
		&& echo "make smoke: $$(weightswitch dag --summary), in $(SMOKE)" && weightswitch repro
	@echo "make smoke: done; results, reports/mini/smoke and the MLflow store are in $(SMOKE)"

clean-venv:
	rm -rf $(VENV)
