# Vakstem: `make demo` serves the klantmanager study, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Three test processes on two cores: the suite waits on PostgreSQL, subprocesses and Chromium a
# third of its time (user CPU 13 min in 10.5 min of two cores), so a third process fills that in.
PYTEST_WORKERS ?= 3
UV_VERSION := 0.13.9

.PHONY: install bytecode demo test lint format clean browser-deps

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

# Bytecode written ahead: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines) no process
# writes it, so each one compiled pandas, SQLAlchemy, FastAPI and our own modules again as it
# started (1.3 s of CPU for the web app's imports). Only changed files are compiled again.
bytecode: install
	$(BIN)/python -m compileall -q src

demo: install bytecode
	$(BIN)/vakstem demo --port $(PORT)

# Chromium for the browser tests comes from Debian; installed only when missing and we are root.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	fi

test: install bytecode browser-deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) data build dist .pytest_cache .mypy_cache .ruff_cache
