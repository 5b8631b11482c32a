# Dangol: the common commands. `make help` lists them.
#
# Everything runs from the virtual environment in .venv, created and kept in step with
# pyproject.toml on demand (the stamp .venv/.installed is rebuilt when pyproject.toml changes).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
VAR_DIR ?= $(or $(DANGOL_VAR_DIR),var)
PYTEST_ARGS ?=

# `make test` talks to the real services, as DESIGN.md asks.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/dangol
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# `make run` needs no server: SQLite in var/, Celery's file-system broker, an in-process cache.
EMBEDDED := env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL

# root installs packages itself; anyone else goes through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help venv run migrate demo admin test services postgres redis browser lint typecheck check-deploy clean-var

help: ## List the targets
	@echo "Dangol: make <target>   (PORT=$(PORT), PYTEST_ARGS='...' for make test)"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-13s %s\n", $$1, $$2}'

# --- environment --------------------------------------------------------------------

$(PY):
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): on Debian install python3-venv (apt-get install python3-venv)." >&2; exit 1; }

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

venv: $(VENV)/.installed ## Create .venv and install the project with its dev tools (when pyproject.toml changed)

# --- run locally ----------------------------------------------------------------------

migrate: venv ## Apply migrations to the local SQLite database in var/
	$(EMBEDDED) $(PY) manage.py migrate --noinput

demo: migrate ## Load the demo stores, tiers and members (idempotent)
	$(EMBEDDED) $(PY) manage.py load_demo

admin: migrate ## Create the superuser `admin` if missing and print how to log in
	@$(EMBEDDED) $(PY) manage.py ensure_admin --port $(PORT)

run: venv ## Everything on this machine: migrate, demo data, Celery worker + beat, web server on 127.0.0.1:PORT
	@mkdir -p $(VAR_DIR)/celery-queue $(VAR_DIR)/celery-control
	$(EMBEDDED) $(PY) manage.py migrate --noinput
	@if command -v msgfmt >/dev/null 2>&1 && [ -n "$$(find . -path ./$(VENV) -prune -o -name '*.po' -print -quit)" ]; then \
		echo "$(EMBEDDED) $(PY) manage.py compilemessages --ignore=$(VENV)"; \
		$(EMBEDDED) $(PY) manage.py compilemessages --ignore=$(VENV) -v0; \
	fi
	$(EMBEDDED) $(PY) manage.py load_demo
	$(EMBEDDED) $(PY) manage.py collectstatic --noinput -v0
	@$(EMBEDDED) $(PY) manage.py ensure_admin --port $(PORT)
	@set -u; \
	$(EMBEDDED) $(VENV)/bin/celery -A config worker --pool=solo -l info >$(VAR_DIR)/celery-worker.log 2>&1 & worker=$$!; \
	$(EMBEDDED) $(VENV)/bin/celery -A config beat -l info \
		--scheduler django_celery_beat.schedulers:DatabaseScheduler >$(VAR_DIR)/celery-beat.log 2>&1 & beat=$$!; \
	trap 'kill $$worker $$beat 2>/dev/null; wait $$worker $$beat 2>/dev/null; echo "Celery worker and beat stopped."' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	echo "Celery worker (pid $$worker) -> $(VAR_DIR)/celery-worker.log, beat (pid $$beat) -> $(VAR_DIR)/celery-beat.log"; \
	echo "Web: http://127.0.0.1:$(PORT)/admin/   (Ctrl-C stops everything)"; \
	$(EMBEDDED) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# --- tests ----------------------------------------------------------------------------

services: postgres redis ## Make sure PostgreSQL and Redis run on 127.0.0.1 (installing them if absent)

postgres:
	@set -e; if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then \
		echo "Installing PostgreSQL"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
		version=$$(ls /etc/postgresql | sort -V | tail -n1); \
		hba=/etc/postgresql/$$version/main/pg_hba.conf; \
		echo "Trusting local connections in $$hba (a development database)"; \
		tmp=$$(mktemp); \
		{ printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'; $(SUDO) cat "$$hba"; } >"$$tmp"; \
		$(SUDO) cp "$$tmp" "$$hba"; rm -f "$$tmp"; \
		$(SUDO) pg_ctlcluster --skip-systemctl-redirect $$version main reload 2>/dev/null || true; \
	fi
	@if ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		version=$$(ls /etc/postgresql | sort -V | tail -n1); \
		echo "Starting PostgreSQL $$version"; \
		$(SUDO) pg_ctlcluster --skip-systemctl-redirect $$version main start; \
		for _ in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@pg_isready -h 127.0.0.1 -p 5432

redis:
	@set -e; if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then \
		echo "Installing Redis"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; \
	fi
	@if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
		echo "Starting Redis"; \
		$(SUDO) mkdir -p /var/lib/redis /var/log/redis; \
		$(SUDO) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log; \
		for _ in $$(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi
	@echo "Redis: $$(redis-cli -h 127.0.0.1 ping)"

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright's own
# browser download is never used. Their screenshots show Korean, so a CJK font comes with it.
browser:
	@set -e; if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Chromium"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi
	@set -e; if ! fc-list :lang=ko family 2>/dev/null | grep -q .; then \
		echo "Installing a Korean font (fonts-noto-cjk)"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-noto-cjk; \
	fi
	@echo "Chromium: $$(/usr/bin/chromium --version 2>/dev/null); Korean fonts: $$(fc-list :lang=ko family 2>/dev/null | wc -l)"

test: venv services browser ## Run the tests against PostgreSQL and Redis on 127.0.0.1 (PYTEST_ARGS='-k ...')
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

# --- checks ---------------------------------------------------------------------------

lint: venv ## ruff, mypy and the missing-migrations check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run

typecheck: venv ## mypy alone
	$(VENV)/bin/mypy .

check-deploy: venv ## Django's deployment checks with production settings; any warning fails
	@DJANGO_ENV=production DJANGO_ALLOWED_HOSTS=example.com \
		DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		$(PY) manage.py check --deploy --fail-level WARNING

clean-var: ## Delete the local database, logs, Celery queues and collected static files in var/
	find $(VAR_DIR) -mindepth 1 ! -name .gitignore -delete
