"""Smoke test of benchmarks/cpu.py at SF0.01: it runs and counts the cluster's CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.benchmarks import run_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_cpu_table_counts_both_engines(tmp_path: Path) -> None:
    run_script("cpu.py", "--scale", "0.01", "--runs", "1", "--queries", "q01", "q03", "--out", str(tmp_path))
    rows = [line.split("|")[1:-1] for line in (tmp_path / "cpu-sf0.01.md").read_text().splitlines()]
    by_name = {cells[0].strip(): cells for cells in rows if cells}
    assert {"q01", "q03", "total"} <= set(by_name)
    df_wall, _, bf_wall, bf_cpu = (float(c.split()[0].strip("*")) for c in by_name["total"][1:5])
    assert df_wall > 0
    assert bf_wall > 0
    # The cluster's processes did the work: their CPU clocks moved.
    assert bf_cpu > 0
