# The README's commands. Everything installs into ./.venv; nothing is assumed pre-installed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
export LAPS_DATA_ROOT ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# pip prints one warning per missing local index folder; they are noise here.
PIP_FILTER := 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }

.PHONY: demo test ui lint bench clean install install-dev dagster-home system-deps lerobot-env

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	set -o pipefail; $(PIP) install -e . $(PIP_FILTER)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	set -o pipefail; $(PIP) install -e '.[dev]' $(PIP_FILTER)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev system-deps

## system-deps: Debian's chromium for the UI test (never a browser download), docker-compose and
## postgresql for the deploy tests; needs root
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian chromium for the UI test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium missing and not root: the UI test will be skipped"; fi; \
	fi
	@# docker-compose validates docker/docker-compose.yml (no engine); postgresql serves the
	@# production-instance test (tests/deploy/test_compose.py, test_postgres_instance.py)
	@if ! command -v docker-compose >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian docker-compose and postgresql for the deploy tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose postgresql >/dev/null; \
	  else echo "note: docker-compose or postgresql missing and not root: the deploy tests will be skipped"; fi; \
	fi
	@# redis-server is the broker of the Celery test (tests/deploy/test_celery_redis.py)
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian redis-server for the Celery test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "note: redis-server missing and not root: the Celery test will be skipped"; fi; \
	fi

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## demo: set up, generate sample videos, run the asset graph on them, print a summary
demo: install dagster-home
	$(BIN)/python -m assets.demo

## lerobot-env: the LeRobot consumer environment (.venv-lerobot) the export tests load with
lerobot-env:
	tests/lerobot_env/make-env.sh

## test: set up with the dev extras, check the architecture, run the whole suite (CPU only)
test: install-dev lerobot-env
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

## ui: the Dagster UI on http://127.0.0.1:3000 over the same instance and data as the demo
ui: install dagster-home
	env --default-signal=INT $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install-dev
	$(BIN)/ruff check pipeline models assets tests
	$(BIN)/lint-imports

clean:
	rm -rf data .dagster_home .venv-lerobot
