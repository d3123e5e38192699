# One place for the project's commands; README.md documents each target.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt

.PHONY: help test test-fast test-loaded lint format demo bench clean

help:
	@echo "make test   - install everything the tests need (.venv, apt packages) and run them"
	@echo "make test-loaded - the end-to-end tier confined to one CPU core, as on a loaded machine"
	@echo "make demo   - the whole lifecycle offline on the local stack with a bundled model"
	@echo "make lint   - ruff format --check, ruff check, mypy"
	@echo "make bench  - run every benchmark and rewrite docs/benchmarks.md"

$(VENV)/.installed-%: pyproject.toml constraints.txt
	bash scripts/system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP) -e '.[$*]'
	touch $@

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The end-to-end tier (the local stack, its containers and the CLI) on one CPU core: the
# suite must hold on a slow or loaded machine. Child processes inherit the affinity.
test-loaded: $(VENV)/.installed-dev
	taskset -c 0 $(PY) -m pytest tests/test_local_stack.py tests/test_jobs_e2e.py $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check whisper_async tests bench
	$(VENV)/bin/ruff check whisper_async tests bench
	$(VENV)/bin/mypy

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format whisper_async tests bench
	$(VENV)/bin/ruff check --fix whisper_async tests bench

demo: $(VENV)/.installed-demo
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

bench: $(VENV)/.installed-dev
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m bench.run_all

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
