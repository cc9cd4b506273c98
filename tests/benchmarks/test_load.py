"""Smoke test of the load test: a few clients for a few seconds, every answer right, nothing left over."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from benchmarks.load import percentile
from tests.benchmarks import run_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_a_short_load_runs_clean(tpch_dir: Path) -> None:  # tpch_dir: the SF0.1 data exists
    out = run_script(
        "load.py",
        "--clients",
        "4",
        "--duration",
        "6",
        "--queries",
        "q01",
        "q03",
        "q06",
        "q12",
        "q14",
        # Every fetched input past one byte goes through a file: the landing path under load.
        "--input-memory-limit",
        "1",
        timeout=120,
    )
    assert "| errors | 0 |" in out.stdout
    assert "| wrong results | 0 |" in out.stdout
    left = "| shuffle left after the load | 0 jobs, 0 B in memory, 0 B on disk, 0 B of fetched input |"
    assert left in out.stdout
    assert "| files left in the work dir | 0 |" in out.stdout
    landed = next(line for line in out.stdout.splitlines() if line.startswith("| fetched input landed"))
    assert float(landed.split("|")[2].split()[0]) > 0, landed
