# ballista-flight: `make run` (demo on an embedded cluster) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test test-fast lint typecheck protos check-protos bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python examples/demo.py

lint: setup
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider

test-fast: setup
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow"

# TPC-H side by side (default SF1); tables under benchmarks/results/.
SCALE ?= 1
bench: setup
	$(BIN)/python benchmarks/tpch.py --scale $(SCALE)

# Regenerate the wire messages; tests/test_protos.py fails if they are stale.
protos: setup
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=src/ballista_flight/proto \
		--pyi_out=src/ballista_flight/proto protos/ballista_flight.proto

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
