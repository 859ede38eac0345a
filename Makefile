# Two commands for a fresh machine:  `make train` (the main job) and `make test` (the test suite).
# Both create .venv when it is missing. TORCH picks the torch build: the default is the CPU wheel
# this project is tested with; on a GPU machine use e.g. `make train TORCH=torch` for your CUDA build.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist worker processes for `make test` (each test runs torch on one thread: tests/conftest.py); 0: serial
PYTEST_WORKERS ?= 2

.PHONY: train test lint install clean

$(STAMP): pyproject.toml tests/example_plugin/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet -e tests/example_plugin
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)  ## train the default experiment: 3-class sentiment, Transformer encoder, precision=auto
	$(BIN)/plait train $(ARGS)

test: $(STAMP)  ## lint, check the layers (.importlinter), type-check framework/ and plugins/, run the test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) outputs multirun
