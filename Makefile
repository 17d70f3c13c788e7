# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: install demo test bench faults lint broker-start broker-stop clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/router demo

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/bench_pipeline.py
	$(PY) bench/bench_classifiers.py

faults: install
	$(PY) bench/fault_harness.py

lint: install
	$(VENV)/bin/ruff check router classifiers connectors tests bench
	$(PY) -m mypy

broker-start: install
	$(VENV)/bin/router broker start

broker-stop: install
	$(VENV)/bin/router broker stop

clean:
	rm -rf var .pytest_cache
