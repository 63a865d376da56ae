# sagewire: every target bootstraps its own virtual environment.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.13 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
BENCH_VENV := .venv-bench

.PHONY: setup test unit lint typecheck demo serve bench clean package policies resources

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "sagewire needs Python 3.11 to 3.13"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/python -m devstack demo

serve: setup
	$(BIN)/python -m devstack serve

$(BENCH_VENV)/.installed: requirements.txt bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	@touch $@

# The packaged cold start (bench coldstart_package) runs build/prod/deployment.zip: built first.
bench: $(BENCH_VENV)/.installed
	$(MAKE) package STAGE=prod
	$(BENCH_VENV)/bin/python -m bench

# A deployable stage in build/$(STAGE)/: sam.json (Chalice's template merged with deploy/template.py)
# and deployment.zip (python3.12 manylinux wheels, compiled by CPython 3.12), checked; fails on any
# violation.
STAGE ?= prod
package: setup
	$(BIN)/python -m deploy package --stage $(STAGE) --out build/$(STAGE)

# Regenerates .chalice/policy-<stage>.json from .chalice/config.json (tests fail on drift).
policies: setup
	$(BIN)/python -m deploy policies

# For `chalice deploy`: build/$(STAGE)-resources.json, the stage's table, bucket, dead-letter queue
# and alarm topic as a stack of their own, checked and cfn-linted (deploy/README.md).
resources: setup
	$(BIN)/python -m deploy resources --stage $(STAGE) --out build/$(STAGE)-resources.json

clean:
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis out build
