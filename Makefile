# The two commands that set everything up on a fresh machine:
#   make run   - installs, migrates, loads the demo and serves on 127.0.0.1:8000 (embedded: SQLite, no services)
#   make test  - installs and runs the whole suite against the real PostgreSQL and Redis

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
REPLAY_SPEED ?= 1400

.PHONY: run test install install-dev migrate demo serve check clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/activate
	$(PIP) install --quiet --progress-bar on -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet --progress-bar on -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo

run: demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py run_embedded --host $(HOST) --port $(PORT) --replay-speed $(REPLAY_SPEED)

test: install-dev
	$(PY) -m pytest --create-db $(PYTEST_ARGS)

check: install-dev
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .hypothesis
