# ballista-flight: `make run` (demo on an embedded cluster) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test test-fast lint typecheck protos bench bench-scaling load clean chromium

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

# The web page test loads the page in headless Chromium (Debian's package; sudo when not root).
chromium:
	@command -v chromium >/dev/null || { s=; [ "$$(id -u)" = 0 ] || s=sudo; \
		$$s apt-get update -qq && $$s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: lint typecheck chromium
	$(BIN)/python -m pytest -p no:cacheprovider

test-fast: setup
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow"

# TPC-H side by side (default SF1), then the shuffle micro-benchmark; results under
# benchmarks/results/. `make bench-scaling` runs 1, 2 and 4 executors.
SCALE ?= 1
BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/tpch.py --scale $(SCALE)
	$(BIN)/python benchmarks/shuffle.py --scale $(SCALE)

bench-scaling: $(BENCH_STAMP)
	$(BIN)/python benchmarks/tpch.py --scale $(SCALE) --scaling 1 2 4

# 16 clients run a TPC-H SF0.1 mix for 2 minutes on a 2-executor cluster; every answer
# checked, latency and memory reported, no shuffle data left (benchmarks/README.md, "Load").
LOAD_ARGS ?= --clients 16 --duration 120 --scale 0.1
load: setup
	nice -n 10 $(BIN)/python benchmarks/load.py $(LOAD_ARGS)

# Regenerate the wire messages; tests/test_protos.py fails if they are stale.
protos: setup
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=src/ballista_flight/proto \
		--pyi_out=src/ballista_flight/proto protos/*.proto

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
