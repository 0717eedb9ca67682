# Everything the project needs is installed by these targets into .venv (created on first use).
# Requirements on the machine: python3 (3.10+) and make.
#
#   make test         lint + format check + mypy + docs (-W) + the whole pytest suite (incl. e2e and
#                     the batch page in headless chromium, installed by `make browser` via apt);
#                     then test-oldest (TEST_OLDEST=0 skips it)
#   make demo         the file example end to end on airflow standalone + the emulator
#                     (DEMO_ARGS="--keep-running" keeps Airflow up for the UI)
#   make parity       the parity suites alone: the hook and the emulator held to the snapshots of
#                     the real service (also part of `make test`)
#   make parity-real  record those snapshots from the real API (needs GEMINI_API_KEY; billed, well
#                     under one US cent; GEMINI_API_URL may point elsewhere): docs/real-service/parity.md
#   make test-oldest  the Airflow-facing tests on Airflow $(OLDEST_AIRFLOW): async connection lookup,
#                     trigger, sensor, and the file/inline example DAGs end to end with dag.test()
#                     (~1.5 min; OLDEST_TESTS=tests/operators ... widens it, ~10 min for all)
#   make test-distributed  PostgreSQL + Redis (apt, scripts/install_distributed.sh) + Celery extra,
#                     then the chaos run on the stack (30 batches, worker and triggerer SIGKILLs;
#                     asserts 0 duplicates/losses/wrong states and a clean teardown). Full figures
#                     by hand: .venv-distributed/bin/python scripts/chaos_distributed.py --runs 12
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv resolves and installs Airflow's ~160 packages in seconds; pip would take minutes.
UV := $(BIN)/uv
PYTEST_ARGS ?=
DEMO_ARGS ?=
# The distributed stack gets its own venv, so the Celery provider and the PostgreSQL drivers never
# leak into the environment `make test` checks.
DIST_VENV := .venv-distributed
DIST_STAMP := $(DIST_VENV)/.installed
TEST_OLDEST ?= 1

# The oldest Airflow minor we support (pyproject: apache-airflow>=3.1.0), in its own venv.
OLDEST_AIRFLOW := 3.1.8
OLDEST_VENV := .venv-oldest
OLDEST_STAMP := $(OLDEST_VENV)/.installed
OLDEST_TESTS ?= tests/hooks/test_hook_async.py tests/triggers tests/sensors \
	tests/examples/test_example_dags.py::test_examples_load_without_import_errors \
	tests/examples/test_example_dags.py::test_file_example_lands_one_row_per_input_key_and_cleans_up \
	tests/examples/test_example_dags.py::test_inline_example_parses_structured_answers

.PHONY: install browser test lint typecheck unit e2e parity parity-real docs demo test-oldest test-distributed bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv>=0.4"
	$(UV) pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[test,docs,common-ai,openlineage]"
	touch $(STAMP)

$(OLDEST_STAMP): pyproject.toml constraints-oldest.txt $(STAMP)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(UV) pip install --quiet --python $(OLDEST_VENV)/bin/python -c constraints-oldest.txt \
		"apache-airflow==$(OLDEST_AIRFLOW)" -e ".[test]"
	touch $(OLDEST_STAMP)

install: $(STAMP)

# The distributed stack's Python side (Celery provider, redis, psycopg2, asyncpg), pinned.
$(DIST_STAMP): pyproject.toml constraints.txt $(STAMP)
	$(PYTHON) -m venv $(DIST_VENV)
	$(UV) pip install --quiet --python $(DIST_VENV)/bin/python -c constraints.txt -e ".[test,distributed]"
	touch $(DIST_STAMP)

# Debian's chromium for the batch page's browser test (apt; skipped when already installed).
browser:
	bash scripts/install_browser.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# --durations=25: the slowest tests in every log, so a slow one shows before `make test` does.
unit: $(STAMP) browser
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

e2e: $(STAMP) browser
	$(BIN)/python -m pytest -m e2e -s $(PYTEST_ARGS)

# Replay every parity snapshot (tests/parity/snapshots) against the hook and the emulator (also
# part of `make unit`). `make parity-real` records fresh snapshots from the real service: it needs
# GEMINI_API_KEY (GEMINI_API_URL may point elsewhere); a run costs well under one US cent, the
# error scenarios nothing (docs/real-service/parity.md). PARITY_ARGS names scenarios to record
# (default: all).
PARITY_TESTS := tests/parity
parity: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS) $(PARITY_TESTS)

parity-real: $(STAMP)
	@test -n "$$GEMINI_API_KEY" || { echo "GEMINI_API_KEY is not set"; exit 2; }
	$(BIN)/python -m tests.parity.record $(PARITY_ARGS)
	$(BIN)/python -m pytest $(PYTEST_ARGS) $(PARITY_TESTS)

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

test: lint typecheck docs unit
ifeq ($(TEST_OLDEST),1)
	$(MAKE) test-oldest
endif

test-oldest: $(OLDEST_STAMP)
	$(OLDEST_VENV)/bin/python -m pytest $(PYTEST_ARGS) $(OLDEST_TESTS)

# Debian's postgresql + redis-server (apt; skipped when present), then the chaos run on the stack.
test-distributed: $(DIST_STAMP)
	bash scripts/install_distributed.sh
	$(DIST_VENV)/bin/python -m pytest -m distributed -s $(PYTEST_ARGS) tests/distributed

demo: $(STAMP)
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .venv-* .artifacts docs/_build docs/api/generated .airflow-home* .demo .pytest_cache .mypy_cache .ruff_cache
