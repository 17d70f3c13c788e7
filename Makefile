# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: install demo test test-deps bench faults lint broker-start broker-stop clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/router demo

# What the whole suite runs against, each cached and a quick no-op once there: the Kafka
# jars (Maven, ~/.cache/escalation-router), Request Tracker 5 and Chromium with ChromeDriver
# (Debian packages: need root or password-less sudo) and GoToSocial (built with Go,
# ~/.cache/escalation-router). What
# cannot be installed here is said once; its tests then skip, naming the command to run.
test-deps: install
	$(PY) -c 'from router.broker import fetch_jars; fetch_jars()'
	bash scripts/rt.sh install --if-possible
	bash scripts/browser.sh install --if-possible
	PYTHON="$(abspath $(PY))" bash scripts/mastodon-server.sh install --if-possible

test: test-deps
	$(PY) -m pytest

bench: install
	$(PY) bench/bench_pipeline.py
	$(PY) bench/bench_classifiers.py

faults: install
	$(PY) bench/fault_harness.py

lint: install
	$(VENV)/bin/ruff check vocab router classifiers connectors tests bench
	$(PY) -m mypy

broker-start: install
	$(VENV)/bin/router broker start

broker-stop: install
	$(VENV)/bin/router broker stop

clean:
	rm -rf var .pytest_cache
