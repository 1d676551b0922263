# Two entry points: `make demo` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo demo-serve test bench install

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,deploy]'
	touch $@

install: $(VENV)/.installed

# The demo starts from empty databases each time and leaves its state: the
# SQLite database and the embedded MongoDB engine's data folder.
DEMO_DB ?= demo.sqlite3
DEMO_STORE ?= demo-store
PORT ?= 8000
DEMO_ENV = SQLITE_PATH=$(DEMO_DB) VIEWSTATS_EMBEDDED_PATH=$(DEMO_STORE)

demo: $(VENV)/.installed
	rm -rf $(DEMO_DB) $(DEMO_STORE)
	$(DEMO_ENV) $(PY) manage.py demo $(DEMO_ARGS)

# Serves the state the last `make demo` left, without simulating again.
demo-serve: $(VENV)/.installed
	$(DEMO_ENV) $(PY) manage.py demo --reuse --port $(PORT)

# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
# loadscope sends each module to one worker, so a module-wide setup (one
# Chromium, the device corpus, the kill-and-rerun scenarios, the examined
# runs) is made once, not once per worker.
TEST_WORKERS ?= auto

# The suite starts many Python processes (the workers, the kill-and-rerun
# zygotes, the fresh-install check); with PYTHONDONTWRITEBYTECODE set, each
# compiled the project and rewrote the tests' asserts anew: about 4 s of CPU
# a process. The tests keep their bytecode (in __pycache__, ignored by git).
test: $(VENV)/.installed
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

bench: $(VENV)/.installed
	for b in bench/*.py; do $(PY) $$b || exit 1; done
