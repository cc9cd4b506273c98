"""Smoke test of the load test: a few clients for a few seconds, every answer right, nothing left over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.load import percentile

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_a_short_load_runs_clean(tpch_dir: Path) -> None:  # tpch_dir: the SF0.1 data exists
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load.py"), "--clients", "4", "--duration", "6",
         "--queries", "q01", "q03", "q06", "q12", "q14"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "| errors | 0 |" in out.stdout
    assert "| wrong results | 0 |" in out.stdout
    assert "| shuffle left after the load | 0 jobs, 0 B in memory, 0 B on disk |" in out.stdout
    assert "| files left in the work dir | 0 |" in out.stdout
