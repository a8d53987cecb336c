# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: install test lint bench demo clean meltano postgres

$(VENV)/.installed: pyproject.toml $(PLUGINS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]' \
		$(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $@

install: $(VENV)/.installed

# Meltano gets its own tool venv (its dependencies must not be resolved with ours); the pin lives in
# demo/meltano_project.py, which builds the venv idempotently.
MELTANO_VENV := .venv-meltano
$(MELTANO_VENV)/.meltano-installed: $(VENV)/.installed demo/meltano_project.py
	$(PY) -m demo.meltano_project
	touch $@

meltano: $(MELTANO_VENV)/.meltano-installed

# The postgres sink's tests and benchmark start a throwaway PostgreSQL server (tests/postgres.py):
# Debian's server package must be there. As root with apt-get this installs it when missing;
# otherwise it says what to install. No server is started here.
postgres: install
	$(PY) -m scripts.pg_server ensure

# Fake Engage API (20k profiles, 0.3 s per query) -> meltano run -> DuckDB, then an incremental run.
demo: install meltano
	$(PY) -m demo.run_demo

# Benchmarks install the PyPI peers and matplotlib (the README chart) into their own venvs in
# .bench/, so the measured venv holds what a user's install holds; bytecode is compiled first,
# as a user's install has it (pip compiles the peers' at install; PYTHONDONTWRITEBYTECODE, set
# on some machines, would otherwise make every run of this tap compile its modules again).
bench: install postgres
	$(PY) -m compileall -q tap_mixpanel_engage plugins benchmarks
	$(PY) -m benchmarks

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint meltano postgres
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) $(MELTANO_VENV) .bench .meltano demo-out output .mypy_cache .ruff_cache \
		.pytest_cache *.egg-info
