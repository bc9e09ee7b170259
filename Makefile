# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint bench clean

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

# Every test: SQLite always, PostgreSQL too when TEST_DATABASE_URL points at one.
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
