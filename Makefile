# sagewire: every target bootstraps its own virtual environment.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.13 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
BENCH_VENV := .venv-bench

.PHONY: help setup test unit lint typecheck demo serve bench clean package policies resources

setup: $(VENV)/.installed ## the virtual environment .venv (Python 3.11 to 3.13) and its sagewire command, built when requirements change

# The sagewire client is installed editable (.venv/bin/sagewire runs this checkout's sagewire/);
# pyproject.toml declares its command, hence a prerequisite.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "sagewire needs Python 3.11 to 3.13"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@touch $@

lint: setup ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup ## mypy (strict)
	$(BIN)/mypy

test: lint typecheck ## lint, typecheck and every test suite (what .ci/run runs)
	$(BIN)/python -m pytest

unit: setup ## the unit tests alone (pure, with fakes: about a minute)
	$(BIN)/python -m pytest tests/unit

help: ## this list
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: setup ## start the local stack, tell the whole story end to end, stop
	$(BIN)/python -m devstack demo

serve: setup ## start the local stack with the demo projects; Ctrl-C stops it
	$(BIN)/python -m devstack serve

$(BENCH_VENV)/.installed: requirements.txt bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	@touch $@

# The packaged cold start (bench coldstart_package) runs build/prod/deployment.zip: built first.
bench: $(BENCH_VENV)/.installed ## every benchmark against its peer (builds .venv-bench and build/prod first)
	$(MAKE) package STAGE=prod
	$(BENCH_VENV)/bin/python -m bench

# A deployable stage in build/$(STAGE)/: sam.json (Chalice's template merged with deploy/template.py)
# and deployment.zip (python3.12 manylinux wheels, compiled by CPython 3.12), checked; fails on any
# violation.
STAGE ?= prod
package: setup ## a deployable stage in build/<stage>/ (STAGE=prod by default), checked
	$(BIN)/python -m deploy package --stage $(STAGE) --out build/$(STAGE)

# Regenerates .chalice/policy-<stage>.json from .chalice/config.json (tests fail on drift).
policies: setup ## regenerate .chalice/policy-<stage>.json from .chalice/config.json
	$(BIN)/python -m deploy policies

# For `chalice deploy`: build/$(STAGE)-resources.json, the stage's table, bucket, dead-letter queue
# and alarm topic as a stack of their own, checked and cfn-linted (deploy/README.md).
resources: setup ## the stage's table, bucket, queue and topic as a stack of their own
	$(BIN)/python -m deploy resources --stage $(STAGE) --out build/$(STAGE)-resources.json

clean: ## remove the virtual environments, caches and build output
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis out build
