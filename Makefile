# The two set-up commands (README.md): `make run` and `make test`. Both create .venv when absent and
# install the pinned requirements; re-installing happens only when a requirements file changes.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# The second setup CI runs the suite on (DESIGN.md section 7): this machine kind's PostgreSQL and Redis.
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= rediscache://127.0.0.1:6379/1

.PHONY: run serve-production test test-postgres-redis lint install install-dev migrate constraints clean

$(VENV)/.runtime: requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt constraints.txt $(VENV)/.runtime
	$(PIP) install -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	$(PY) manage.py migrate --noinput

## Run the portal on its embedded defaults (SQLite, local-memory cache, seeded demo) at http://127.0.0.1:$(PORT)
run: migrate
	$(PY) manage.py seed_demo --serving-at http://127.0.0.1:$(PORT)
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

## Serve with gunicorn in production mode (settings from the environment: README, "Running in production")
serve-production: install
	PORTAL_MODE=production $(PY) manage.py migrate --noinput
	PORTAL_MODE=production $(PY) manage.py collectstatic --noinput
	PORTAL_MODE=production $(VENV)/bin/gunicorn -c gunicorn.conf.py portal.wsgi

## Run the whole test suite (lint, type and migration checks first) on the embedded defaults
test: install-dev lint
	$(PY) -m pytest $(PYTEST_ARGS)

## The same suite on PostgreSQL and Redis
test-postgres-redis: install-dev
	DATABASE_URL=$(POSTGRES_URL) CACHE_URL=$(REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run

## Benchmark the JWT policies in process and the gateway over HTTP, against references (README, "Benchmark")
.PHONY: bench
bench: install-dev
	$(PY) -m bench.run $(BENCH_ARGS)

## The gateway at scale: 5,000 APIs x 10,000 apps on SQLite and on PostgreSQL + Redis (docs/scale.md)
.PHONY: bench-scale
bench-scale: install-dev
	$(PY) -m bench.scale $(BENCH_SCALE_ARGS)

## Re-pin every installed package (after editing requirements*.txt)
constraints:
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-dev.txt
	{ echo "# Every installed package, transitive ones included, pinned (pip freeze of a fresh .venv). Regenerate with"; \
	  echo "# 'make constraints' after changing requirements*.txt."; $(PY) -m pip freeze --exclude-editable; } > constraints.txt
	touch $(VENV)/.runtime $(VENV)/.dev

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
