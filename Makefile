# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python

.PHONY: install run test test-sqlite test-postgres test-slow lint schema screenshots bench clean

# A virtualenv with the pinned uv, which then installs exactly what uv.lock says.
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==0.13.8

# The packages' bytecode (.pyc) is written at install: a process that finds none compiles
# every module it imports, and finds none every time where PYTHONDONTWRITEBYTECODE is set
# (as on this project's CI machines): importing scikit-learn then costs ~8 s of CPU
# instead of ~3 s, in every server and training worker.
install: $(UV)
	$(UV) sync --locked --quiet --compile-bytecode

run: install
	$(PY) main.py serve

test: install lint test-sqlite test-postgres

# The suite runs on four pytest-xdist workers on the machine's two cores: it waits more
# than it computes (schedule slots, sweep trials, webhook retries, server processes and
# browsers starting: a run used 490 CPU-seconds in 700 s of wall time with three workers).
# Each test file, or group of files sharing a server or an outside resource, runs on one
# worker (see tests/scheduling.py), in collection order rather than xdist's
# largest-file-first: the slow single-test files then run mid-way, and the quick unit
# tests of tests/trainer/ even out the workers' ends.
# `make test-sqlite XDIST=` runs it in one process.
XDIST ?= -n 4 --dist loadgroup --no-loadscope-reorder

# The tests write bytecode (into the ignored __pycache__ folders) even where
# PYTHONDONTWRITEBYTECODE is set: pytest keeps its assertion-rewritten test modules and
# plugins there, and without them each test process rewrites ~350 modules (5 s of CPU) at
# every start, and each server process the tests start recompiles the project.
TEST_ENV := PYTHONDONTWRITEBYTECODE=

# Tests marked slow (the 50,000-request memory check) run with `make test-slow`.
test-sqlite:
	$(TEST_ENV) $(PY) -m pytest -m "not slow" $(XDIST)

test-slow: install
	$(TEST_ENV) $(PY) -m pytest -m slow -s

# The same suite on PostgreSQL when TEST_POSTGRES_URL names a server; otherwise skipped
# with a line saying so (CI sets it, and REQUIRE_SERVICES=1 to fail instead of skip).
test-postgres:
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
		$(TEST_ENV) TEST_DATABASE=postgres $(PY) -m pytest -m "not slow" $(XDIST) tests/api; \
	else \
		echo "SKIPPED: PostgreSQL tests (set TEST_POSTGRES_URL=postgres://user@host:5432/db to run them)"; \
	fi

# Style, types (mypy, configured in pyproject.toml), the layers (import-linter
# contract in pyproject.toml: server -> schema -> resolvers -> trainer.jobs -> models | trainer.ml)
# and the dashboard's JavaScript (biome, a dev dependency from uv.lock; biome.json).
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/biome lint --error-on-warnings

# Benchmarks against the REST original's figures and the framework ceiling (issue 5).
bench: install
	$(PY) -m bench.run --db both

# The README's dashboard screenshots (docs/screenshots), taken by the browser tests.
screenshots: install
	DASHBOARD_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/dashboard -q

schema:
	$(PY) main.py export-schema --out schema/schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
