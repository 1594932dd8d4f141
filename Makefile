# keyward: `make run` starts a ready demo on SQLite, `make test` runs every check.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --all-build-deps
# The portal's browser tests drive Debian's Chromium through Playwright, never a browser build
# Playwright would download; installed here when missing (as root, or through sudo).
CHROMIUM := /usr/bin/chromium
# `keyward backup` and `restore` on PostgreSQL run Debian's pg_dump and pg_restore.
PG_DUMP := /usr/bin/pg_dump
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test lint typecheck layers pytest bench lock clean

# The demo serves its own upstream and, without KEYWARD_SMTP_HOST, keeps its e-mails as files.
DEMO_ENV := KEYWARD_DEMO_UPSTREAM=true KEYWARD_MAIL_DIR=var/mail

run: $(VENV)/.installed-run $(VENV)/.compiled
	@echo "make run: initialising ./var/keyward.db (the demo is seeded on the first run)"
	$(DEMO_ENV) $(BIN)/keyward init --demo
	@echo "make run: serving the API, portal, gateway and worker (Ctrl-C stops them); e-mails land in var/mail/"
	$(DEMO_ENV) $(BIN)/keyward serve

test: $(VENV)/.installed-dev $(VENV)/.compiled $(CHROMIUM) $(PG_DUMP) lint typecheck layers pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

layers: $(VENV)/.installed-dev
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-dev $(VENV)/.compiled $(CHROMIUM) $(PG_DUMP)
	$(BIN)/pytest -n 3

bench: $(VENV)/.installed-dev $(VENV)/.compiled
	$(BIN)/python -m benchmarks

lock: $(VENV)/.installed-dev
	$(PIP_COMPILE) --extra compile -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra compile --extra dev -o requirements-dev.lock pyproject.toml

$(CHROMIUM):
	$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

$(PG_DUMP):
	$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "keyward needs Python 3.11 or newer as $(PYTHON)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: requirements.lock pyproject.toml | $(BIN)/python
	@echo "make: installing keyward and its pinned dependencies into $(VENV) (once)"
	$(PIP) install --require-hashes --no-deps -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation --editable .
	@touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	@echo "make: installing keyward and what its tests need into $(VENV) (once)"
	$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	$(PIP) install --no-deps --no-build-isolation --editable .
	@touch $@ $(VENV)/.installed-run

# The gateway's request path, compiled with mypyc next to its sources; rebuilt when one of the
# packages it is compiled from changes. Without it (no C compiler) the same code runs interpreted.
$(VENV)/.compiled: tools/compile_gateway.py $(wildcard src/keyward/core/*.py src/keyward/gateway/*.py src/keyward/gateway/http/*.py src/keyward/verifier/*.py) | $(VENV)/.installed-run
	$(BIN)/python tools/compile_gateway.py
	@touch $@

clean:
	$(BIN)/python tools/compile_gateway.py --clean || true
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .benchmarks
