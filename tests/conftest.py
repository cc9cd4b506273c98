"""Shared fixtures: TPC-H data made with tpchgen-cli, real standalone clusters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from datafusion import SessionContext

import ballista_flight
from ballista_flight.standalone import StandaloneCluster

ROOT = Path(__file__).resolve().parent.parent
TPCH_TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]
QUERIES_DIR = ROOT / "benchmarks" / "tpch" / "queries"


def tpch_data(scale: float, parts: int) -> Path:
    """Generate (once, cached under data/) TPC-H Parquet with ``parts`` files per table."""
    target = ROOT / "data" / f"tpch-sf{scale}-p{parts}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    exe = Path(sys.executable).with_name("tpchgen-cli")
    subprocess.run(
        [str(exe), "parquet", "-s", str(scale), "--parts", str(parts), "--output-dir", str(target)],
        check=True,
    )
    (target / ".complete").touch()
    return target


@pytest.fixture(scope="session")
def tpch_dir() -> Path:
    return tpch_data(0.1, 4)


def register_tpch(ctx: object, directory: Path) -> None:
    for table in TPCH_TABLES:
        ctx.register_parquet(table, str(directory / table) + "/")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def reference(tpch_dir: Path) -> SessionContext:
    """Single-process DataFusion with default settings: the independent reference."""
    ctx = SessionContext()
    register_tpch(ctx, tpch_dir)
    return ctx


def _cluster(shuffle: str, **kwargs: object) -> Iterator[StandaloneCluster]:
    cluster = StandaloneCluster(executors=2, shuffle=shuffle, log_level="warning", **kwargs)  # type: ignore[arg-type]
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def memory_cluster() -> Iterator[StandaloneCluster]:
    yield from _cluster("memory")


@pytest.fixture(scope="session")
def disk_cluster() -> Iterator[StandaloneCluster]:
    yield from _cluster("disk")


@pytest.fixture(scope="session", params=["memory", "disk"])
def cluster(request: pytest.FixtureRequest) -> StandaloneCluster:
    return request.getfixturevalue(f"{request.param}_cluster")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def client(memory_cluster: StandaloneCluster, tpch_dir: Path) -> ballista_flight.Context:
    ctx = ballista_flight.connect(memory_cluster.uri, timeout=300)
    register_tpch(ctx, tpch_dir)
    return ctx


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("BALLISTA_FLIGHT_LOG_LEVEL", "warning")
    # Every query is cut into stages, however little data the tests give it: the
    # distributed path is what they check. The small-query shortcut has its own tests ...
    os.environ.setdefault("BALLISTA_FLIGHT_SMALL_QUERY_BYTES", "0")
    # ... and every stage runs as its partitions' tasks, however little its inputs hold
    # (the tiny-stage shortcut has its own tests too).
    os.environ.setdefault("BALLISTA_FLIGHT_TINY_STAGE_BYTES", "0")
