# rtw — make targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# One stamp per extra and pyproject.toml version: `make demo` installs the lean `demo` extra,
# `make install`/`make test` the `dev` extra (a superset), so `make test` after `make demo`
# upgrades the venv, and `make demo` after `make install` installs nothing.
PYPROJECT_HASH := $(shell sha256sum pyproject.toml | cut -c1-12)
DEMO_STAMP := $(VENV)/.installed-demo-$(PYPROJECT_HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(PYPROJECT_HASH)

$(DEMO_STAMP): pyproject.toml
	@if [ -e $(DEV_STAMP) ]; then touch $@; exit 0; fi; \
	set -e; test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'; \
	$(BIN)/python -m compileall -q services; \
	rm -f $(VENV)/.installed-*; touch $@

$(DEV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m compileall -q services
	@rm -f $(VENV)/.installed-* && touch $@ $(DEMO_STAMP)

.PHONY: install  ## create .venv and install rtw with its test and lint tools (the dev extra)
install: $(DEV_STAMP)

.PHONY: install-demo  ## create .venv with only what the demo runs (the demo extra)
install-demo: $(DEMO_STAMP)

.PHONY: system-packages  ## install the Debian packages the tests need, when missing (root or sudo)
system-packages:
	bash deploy/tools/install-system-packages.sh

.PHONY: demo  ## run the demo: embedded Temporal, three workers, five orders, then stop
demo: install-demo
	$(BIN)/rtw demo

.PHONY: dev  ## run the local stack until Ctrl+C (Web UI on http://localhost:8233)
dev: install-demo
	$(BIN)/rtw dev

.PHONY: tools  ## install pinned helm, checkov and actionlint under .tools/ (chart and CI tests)
tools:
	bash deploy/tools/install-helm.sh
	bash deploy/tools/install-checkov.sh
	bash deploy/tools/install-actionlint.sh

.PHONY: test  ## everything CI runs: system packages, tools, the image, lint, then the whole suite
test: system-packages install tools image lint
	$(BIN)/python -m pytest -ra --durations=10 $(PYTEST_ARGS)

.PHONY: test-unit  ## unit tests only (time-skipping server, no worker processes)
test-unit: install
	$(BIN)/python -m pytest -ra -m "not integration and not chart and not k8s and not container" $(PYTEST_ARGS)

.PHONY: test-integration  ## integration tests (dev server + real worker processes)
test-integration: system-packages install
	$(BIN)/python -m pytest -ra -m integration $(PYTEST_ARGS)

.PHONY: test-chart  ## Helm chart tests (helm lint/template, kubernetes-validate, checkov)
test-chart: install tools
	$(BIN)/python -m pytest -ra -m chart $(PYTEST_ARGS)

.PHONY: lock  ## regenerate requirements/image.lock: the image's dependencies, pinned with hashes
lock: install
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--system-certs --custom-compile-command "make lock" --quiet -o requirements/image.lock

.PHONY: image  ## build localhost/rtw:0.1.0 with podman + runc (no Docker engine needed)
image:
	bash deploy/tools/build-image.sh

.PHONY: test-container  ## the real image: non-root, read-only root, SIGTERM, a saga in containers
test-container: system-packages install image
	$(BIN)/python -m pytest -ra -m container $(PYTEST_ARGS)

.PHONY: bench  ## platform vs bare SDK, ratios and figures in bench/results/latest.json (PROFILE=quick|full)
bench: install
	$(BIN)/rtw bench run --profile $(or $(PROFILE),quick)

.PHONY: chaos  ## faults under load on a multi-replica stack + PostgreSQL (PROFILE=quick|full)
chaos: install
	$(BIN)/rtw chaos --profile $(or $(PROFILE),quick)

.PHONY: chart-docs  ## regenerate the values table in charts/rtw/README.md
chart-docs: install
	$(BIN)/python deploy/tools/gen-chart-readme.py

.PHONY: e2e  ## the chart on kind: pytest -m k8s (e2e.sh up, assertions, down; needs kind + docker)
e2e: install tools
	$(BIN)/python -m pytest -ra -m k8s $(PYTEST_ARGS)

.PHONY: lint  ## ruff, mypy --strict, bandit, hadolint and the dependency pin check
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services tests
	$(BIN)/bandit -q -c pyproject.toml -r services
	$(BIN)/hadolint --no-color Dockerfile
	$(BIN)/python deploy/tools/check-pins.py

.PHONY: format  ## apply ruff's fixes and formatting
format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: clean  ## remove local state (.rtw/) and caches; keeps .venv and .tools
clean:
	rm -rf .rtw .pytest_cache .mypy_cache .ruff_cache

.PHONY: help  ## list targets
help:
	@grep -E '^\.PHONY: [a-z-]+ +## ' $(MAKEFILE_LIST) | \
		sed -E 's/^\.PHONY: ([a-z-]+) +## (.*)/\1\t\2/' | awk -F'\t' '{printf "  make %-18s %s\n", $$1, $$2}'
