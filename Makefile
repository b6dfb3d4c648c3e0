# Two commands matter on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
export DOCKYARD_HOME ?= $(CURDIR)/.dockyard
# In-process unit tests run background tasks inline; the live servers the tests start use the real queue.
TEST_ENV := DOCKYARD_TASKS_BACKEND=immediate DOCKYARD_HOME=$(CURDIR)/.dockyard-test

.PHONY: run test test-sqlite test-postgres check lint types bench deps dev-deps browser git-lfs bubblewrap services clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

deps: $(VENV)/.installed
dev-deps: $(VENV)/.dev-installed

## Start Dockyard with its embedded defaults (SQLite and local state under $DOCKYARD_HOME).
run: deps
	$(BIN)/dockyard serve --host $(HOST) --port $(PORT)

## Headless Chromium for the page tests (Debian's package; Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the page tests"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## The git-lfs client for the LFS tests (Debian's package).
git-lfs:
	@git lfs version >/dev/null 2>&1 || { \
	  echo "installing Debian's git-lfs for the LFS tests"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git-lfs >/dev/null; }

## bubblewrap for the CI runner's sandbox executor tests (Debian's package).
bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing Debian's bubblewrap for the runner's sandbox tests"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }

## PostgreSQL and Redis for the test suite (starts them when installed but stopped).
services:
	@if [ -x ../shared/ci/services.sh ]; then ../shared/ci/services.sh; else echo "no ../shared/ci/services.sh; assuming services run"; fi

## Every test, on SQLite and then on PostgreSQL.
test: dev-deps browser git-lfs bubblewrap services
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: dev-deps
	$(TEST_ENV) DOCKYARD_TEST_BACKEND=sqlite $(BIN)/pytest -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

test-postgres: dev-deps
	$(TEST_ENV) DOCKYARD_TEST_BACKEND=postgres DATABASE_URL=$(PG_URL) $(BIN)/pytest -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

lint: dev-deps
	$(BIN)/ruff check dockyard tests bench
	$(BIN)/ruff format --check dockyard tests bench
	$(BIN)/lint-imports

types: dev-deps
	$(BIN)/mypy dockyard tests bench

## Lint, types and every test.
check: lint types test

## Benchmarks: idle memory and API throughput against a bare Django baseline measured in the same run,
## the serving comparison, then git transport against git http-backend (see bench/README.md).
## Loopback only, bounded; asserts nothing on times.
bench: dev-deps wrk
	$(BIN)/python bench/run.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/git.py
	$(BIN)/python bench/ci.py

## The serving comparison alone (granian WSGI / ASGI / a2wsgi bridge / uvicorn on a bare Django).
bench-serving: dev-deps wrk
	$(BIN)/python bench/serving.py

## Git transport alone: push, clone and no-op fetch of a large generated repository (cached under
## .cache/bench-git/), Dockyard vs git http-backend.
bench-git: dev-deps
	$(BIN)/python bench/git.py

## CI alone: job dispatch to many simulated runners on PostgreSQL (127.0.0.1:5432, a throwaway
## database), then push-to-job-start latency with the embedded runner.
bench-ci: dev-deps
	$(BIN)/python bench/ci.py

## wrk, the load generator of the benchmarks (Debian's package).
.PHONY: bench-serving bench-git bench-ci wrk
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmarks"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
