# The README's two first-screen commands are `make demo` and `make test`; .ci/run runs both.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint proto models

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Main job on embedded defaults: a fleet, an enrolled box and an OCC subscriber on this
# machine, the bundled real clip as the camera (no external server needed).
demo: setup
	$(BIN)/oko-agent demo

# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set: the suite starts hundreds of
# real processes (oko-fleet serve, oko-agent run, okoctl) that import the same modules, and
# compiling them anew in each costs about 0.5 s of CPU per start. --durations: every run's log
# names its slowest tests (keep the suite under 15 minutes).
# Two pytest-xdist workers, every file's tests on one worker (conftest.py): the suite mostly
# waits on real processes. Under xdist a test that crashes its worker is re-run on a fresh
# one (pytest-rerunfailures) instead of ending the run: grpc.aio on Python 3.11 can segfault
# at random when a call is cancelled (grpc/grpc#31441). PYTHONFAULTHANDLER: a crash prints
# every thread's stack.
PYTEST_WORKERS ?= 2
test: setup
	bash scripts/install-system-deps.sh
	env -u PYTHONDONTWRITEBYTECODE PYTHONFAULTHANDLER=1 $(BIN)/pytest -n $(PYTEST_WORKERS) \
		--dist loadgroup --no-loadscope-reorder --durations=30

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Regenerate proto/oko/v1/*_pb2*.py from the .proto files (CI checks they are in sync).
proto: setup
	$(BIN)/python -m proto.generate

# Rebuild models/ from upstream weights (needs the build extra in its own venv; see models/README.md).
# EXTRA=yolov5s also builds that optional model into models/extra/: its weights are
# GPL-3.0/AGPL-3.0 (Ultralytics), so it is never committed nor put in an image.
models:
	$(PYTHON) -m venv .venv-build
	.venv-build/bin/pip install -q -e '.[build]'
	.venv-build/bin/python -m models.build $(foreach m,$(EXTRA),--extra $(m))
