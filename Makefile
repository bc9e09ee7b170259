# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: help install run test test-unit test-quick test-hosts lint docs examples-test dist bench bench-plugin \
  bench-check bench-proxy bench-snapshots chaos clean image base-image

## This list: every target with the line of comment above it that starts with two hashes.
help:
	@awk '/^## / { doc = substr($$0, 4); next } /^[a-z][a-z-]*:/ && doc { \
	  split($$1, t, ":"); printf "  %-14s %s\n", t[1], doc } { if ($$0 !~ /^## /) doc = "" }' \
	  $(MAKEFILE_LIST)

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

## Make the virtual environment (.venv) with the package and its dev tools.
install: $(INSTALLED)

# Migrate the embedded SQLite database, seed it when empty, print a ready-to-paste curl,
# serve on SENDAI_BIND (default 127.0.0.1:8000; the printed addresses follow it, or
# SENDAI_PUBLIC_URL when set).
## Migrate and seed the embedded database, print a curl to paste, serve on 127.0.0.1:8000.
run: install
	$(BIN)/sendai-server db upgrade
	$(BIN)/sendai-server demo-curl
	$(BIN)/sendai-server serve

# ruff, mypy, and import-linter's layer contracts (.importlinter): an import upward fails here.
## ruff, mypy and the layer contracts of .importlinter.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy sendai_server
	$(BIN)/lint-imports

# The user documentation (docs/, mkdocs.yml): MkDocs with the Material theme, built strictly
# into site/ (a broken link or a page left out of the nav fails). Open site/index.html, or
# `$(BIN)/mkdocs serve` while writing.
## The documentation site, built strictly into site/ (open site/index.html).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

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

## examples/ as a user runs them: the package installed from a wheel, in a venv of its own.
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

# A wheel of this checkout, dist/sendai_server-<version>-py3-none-any.whl, for another
# project's environment: `pip install "$(ls dist/sendai_server-*.whl)[pytest]"` (README.md). Built
# by pip (PEP 517, from a clean build/) in a small virtual environment of its own.
DIST_VENV ?= .venv-dist

## A wheel of this checkout in dist/.
dist:
	rm -rf build dist/sendai_server-*.whl
	test -x $(DIST_VENV)/bin/python || { $(PYTHON) -m venv $(DIST_VENV) && \
	  echo '*' > $(DIST_VENV)/.gitignore; }
	$(DIST_VENV)/bin/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/sendai_server-*.whl

# The tests are a pyramid, one folder a layer (tests/unit, tests/app, tests/live; helpers and
# fixtures in tests/support). Each target below runs one more layer than the last.
# Two pytest runs: what test-quick runs, on QUICK_WORKERS processes (each its own PostgreSQL
# database), then every `slow` test (the live layer, and the app layer's slow ones) in one
# process, as the live layer's ports, processes and timings were written for.
## Every test, as CI runs it: lint, examples, then unit, app and live (SQLite; PostgreSQL too with TEST_DATABASE_URL).
test: lint docs examples-test
	$(BIN)/pytest -n $(QUICK_WORKERS) tests/unit tests/app -m "not slow" $(PYTEST_ARGS)
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

# Without the plugins it never uses: hypothesis' and schemathesis' take longer to import than
# the whole layer takes to run. (Not in test-quick: the app layer's pytester sessions would then
# import them afresh each, as pytester forgets the modules a session imported.)
## The unit layer alone: no app, no database, no process (seconds).
test-unit: install
	$(BIN)/pytest tests/unit -q -p no:schemathesis -p no:hypothesispytest -p no:anyio $(PYTEST_ARGS)

# Several hosts on one PostgreSQL and one S3 store (tests/live/test_hosts.py): two network
# namespaces, each serving with its worker. Needs root and TEST_DATABASE_URL; `make test` runs
# it too (skipped there without them, unless SENDAI_REQUIRE_NETNS=1 as in .ci/run).
## Only the several-hosts test (network namespaces; root and TEST_DATABASE_URL).
test-hosts: install
	$(BIN)/pytest tests/live/test_hosts.py $(PYTEST_ARGS)

# pytest-xdist spreads the tests over QUICK_WORKERS processes (2: this machine's cores); each
# has its own SQLite files and, with TEST_DATABASE_URL, its own PostgreSQL database
# (tests/support/databases.py). QUICK_WORKERS=0 runs them in this one process.
QUICK_WORKERS ?= 2
## While working: lint, then the unit and app layers, tests not marked slow, on 2 processes.
test-quick: lint
	$(BIN)/pytest -n $(QUICK_WORKERS) tests/unit tests/app -m "not slow" $(PYTEST_ARGS)

# Load test: sendai-server against a bare Flask app, side by side (bench/run.py; about 3
# minutes on SQLite, twice that with BENCH_DATABASE_URL). Needs wrk: installed with apt-get
# when run as root. BENCH_ARGS=--no-flatness skips the 1,000,000-task check.
## The load test: this server against bare Flask and a raw-driver ceiling, side by side.
bench: install
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; \
	  else echo "make bench needs wrk: run 'sudo apt-get install wrk' first" >&2; exit 1; fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Two hosts under load while they are killed (-9) and cut off from PostgreSQL, with seeded
# faults, then the books read through the API (bench/chaos.py, docs/chaos.md): CHAOS_SECONDS of
# load (default 120) and the backlog's drain. Needs root and PostgreSQL (CHAOS_DATABASE_URL, else
# TEST_DATABASE_URL); records its figures under "chaos" in bench/results.json. Not in `make test`.
CHAOS_SECONDS ?= 120
## Two hosts under kills, cuts and faults, then the books (not in make test; root, PostgreSQL).
chaos: install
	$(BIN)/python bench/chaos.py $(CHAOS_SECONDS)

# The hot path's guard (bench/check.py; a minute or two, twice that with BENCH_DATABASE_URL):
# this server against the raw-driver ceiling side by side, GET and discard; exit status 1 when a
# ratio is more than 10% under the one `make bench` recorded in bench/results.json.
## Fail when GET or discard falls more than 10% under its recorded ratio to the raw ceiling.
bench-check: install
	@command -v wrk >/dev/null || { echo "make bench-check needs wrk: 'sudo apt-get install wrk'" >&2; exit 2; }
	$(BIN)/python bench/check.py $(BENCH_CHECK_ARGS)

# Only the pytest plugin's costs (bench/plugin.py; about a minute, no wrk): a plain run with
# and without the plugin, the first `sendai` test's start, 50 tests of one discard each.
## Only the pytest plugin's costs.
bench-plugin: install
	$(BIN)/python bench/run.py --plugin-only

# The container image (Dockerfile, docs/container.md). PYTHON_IMAGE is its base; where none can be
# pulled, `make base-image` makes one from Debian's packages (docker/local-base) and
# `make image PYTHON_IMAGE=sendai-python-base:bookworm` builds on it. CA certificates this
# machine added (Debian's /usr/local/share/ca-certificates: a TLS-inspecting proxy's) go to the
# build stage that fetches the wheels, as PEM text; none reaches the image.
IMAGE ?= sendai-server:latest
PYTHON_IMAGE ?= python:3.11-slim-bookworm
LOCAL_BASE_IMAGE ?= sendai-python-base:bookworm
EXTRA_CA_CERTS ?= $(wildcard /usr/local/share/ca-certificates/*.crt)

## The container image (docker build).
image:
	docker build --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) \
	  $(if $(strip $(EXTRA_CA_CERTS)),--build-arg PIP_EXTRA_CA_CERTS="$$(cat $(EXTRA_CA_CERTS))") \
	  $(if $(PIP_INDEX_URL),--build-arg PIP_INDEX_URL=$(PIP_INDEX_URL)) \
	  -t $(IMAGE) .

## A Python base image from Debian's packages, for machines that cannot pull one.
base-image:
	docker/local-base $(LOCAL_BASE_IMAGE)

# Only what `sendai-server proxy` adds per request (median, p99) against calling the server
# directly, and its memory over a 40 MiB upload; about 20 s, no wrk. Updates only the 'proxy'
# part of bench/results.json (`make bench` measures it too; BENCH_ARGS=--no-proxy skips it).
## Only what proxy mode adds per request.
bench-proxy: install
	$(BIN)/python bench/run.py --proxy-only

# Snapshots (docs/snapshots.md, bench/snapshots.py; a few minutes): snapshot, restore, export
# and import of 1,000 tasks x 10 pages beside building them through the API, on SQLite and, with
# BENCH_DATABASE_URL, PostgreSQL; the plugin's per-test start. Updates only its part of
# bench/results.json.
## Only the snapshots' figures: snapshot, restore, export, import beside building through the API.
bench-snapshots: install
	$(BIN)/python bench/snapshots.py

## Remove the virtual environments and build outputs.
clean:
	rm -rf $(VENV) $(EXAMPLES_VENV) $(DIST_VENV) build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
