# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-quick lint examples-test bench bench-proxy clean

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Migrate the embedded SQLite database, seed it when empty, print a ready-to-paste curl,
# serve on 127.0.0.1:8000.
run: install
	$(BIN)/sendai-server db upgrade
	$(BIN)/sendai-server demo-curl
	$(BIN)/sendai-server serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy sendai_server

# examples/ as a user runs it: a virtual environment of its own with sendai-server installed
# from this checkout as `pip install '.[pytest]'` does, not editable, so a module, migration or
# entry point the wheel lacks fails here. Dependencies are installed when setup.cfg changes;
# the package is rebuilt (from a clean build/) and reinstalled on every run. Then
# `sendai-server db upgrade` from the install, and examples/ twice in a row.
EXAMPLES_VENV ?= .venv-examples
EXAMPLES_BIN := $(abspath $(EXAMPLES_VENV))/bin

$(EXAMPLES_VENV)/.installed: setup.cfg pyproject.toml examples/requirements.txt
	rm -rf $(EXAMPLES_VENV)
	$(PYTHON) -m venv $(EXAMPLES_VENV)
	echo '*' > $(EXAMPLES_VENV)/.gitignore
	$(EXAMPLES_BIN)/python -m pip install --quiet --upgrade pip
	$(EXAMPLES_BIN)/python -m pip install --quiet '.[pytest]' -r examples/requirements.txt
	touch $@

examples-test: $(EXAMPLES_VENV)/.installed
	rm -rf build
	$(EXAMPLES_BIN)/python -m pip install --quiet --no-deps --force-reinstall .
	rm -f $(EXAMPLES_VENV)/upgrade-check.db
	cd examples && DATABASE_URL=sqlite:///$(abspath $(EXAMPLES_VENV))/upgrade-check.db \
	  $(EXAMPLES_BIN)/sendai-server db upgrade && \
	  DATABASE_URL=sqlite:///$(abspath $(EXAMPLES_VENV))/upgrade-check.db \
	  $(EXAMPLES_BIN)/sendai-server db current
	cd examples && $(EXAMPLES_BIN)/pytest -q -p no:cacheprovider
	cd examples && $(EXAMPLES_BIN)/pytest -q -p no:cacheprovider

# Every test: SQLite always, PostgreSQL too when TEST_DATABASE_URL points at one.
test: lint examples-test
	$(BIN)/pytest $(PYTEST_ARGS)

# While working: everything but the slow tests (live gunicorn, browsers, fuzzing, faults).
test-quick: lint
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# Load test: sendai-server against a bare Flask app, side by side (bench/run.py; about 3
# minutes on SQLite, twice that with BENCH_DATABASE_URL). Needs wrk: installed with apt-get
# when run as root. BENCH_ARGS=--no-flatness skips the 1,000,000-task check.
bench: install
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; \
	  else echo "make bench needs wrk: run 'sudo apt-get install wrk' first" >&2; exit 1; fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Only what `sendai-server proxy` adds per request (median, p99) against calling the server
# directly, and its memory over a 40 MiB upload; about 20 s, no wrk. Updates only the 'proxy'
# part of bench/results.json (`make bench` measures it too; BENCH_ARGS=--no-proxy skips it).
bench-proxy: install
	$(BIN)/python bench/run.py --proxy-only

clean:
	rm -rf $(VENV) $(EXAMPLES_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
