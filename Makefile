# rtw — make targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PYTEST_ARGS ?=

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q services
	@rm -f $(VENV)/.installed-* && touch $@

.PHONY: install  ## create .venv and install rtw with its dev tools
install: $(STAMP)

.PHONY: demo  ## run the demo: embedded Temporal, three workers, five orders, then stop
demo: install
	$(BIN)/rtw demo

.PHONY: dev  ## run the local stack until Ctrl+C (Web UI on http://localhost:8233)
dev: install
	$(BIN)/rtw dev

.PHONY: tools  ## install pinned helm and checkov under .tools/ (used by the chart tests)
tools:
	bash deploy/tools/install-helm.sh
	bash deploy/tools/install-checkov.sh
	bash deploy/tools/install-actionlint.sh

.PHONY: test  ## the whole suite: unit, integration (real server + workers), chart, container
test: install tools
	$(BIN)/python -m pytest -ra --durations=10 $(PYTEST_ARGS)

.PHONY: test-unit  ## unit tests only (time-skipping server, no worker processes)
test-unit: install
	$(BIN)/python -m pytest -ra -m "not integration and not chart and not k8s and not container" $(PYTEST_ARGS)

.PHONY: test-integration  ## integration tests (dev server + real worker processes)
test-integration: install
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
test-container: install image
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
