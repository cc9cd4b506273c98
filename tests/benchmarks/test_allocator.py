"""Smoke test of benchmarks/allocator.py at SF0.01: every variant runs and is timed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.benchmarks import run_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_allocator_table_times_every_variant(tmp_path: Path) -> None:
    run_script(
        "allocator.py", "--scale", "0.01", "--runs", "1", "--queries", "q01", "q03", "--out", str(tmp_path)
    )
    rows = [line.split("|")[1:-1] for line in (tmp_path / "allocator-sf0.01.md").read_text().splitlines()]
    timed = {
        cells[0].strip(): float(cells[1].split()[0])
        for cells in rows
        if cells and cells[1].strip()[:1].isdigit()
    }
    assert set(timed) == {
        "DataFusion alone, as the libraries ship",
        "DataFusion alone, servers' setting (10 s)",
        "DataFusion (this process, as it ships)",
        "ballista-flight, 2 executors, as the libraries ship",
        "ballista-flight, 2 executors, servers' setting (10 s)",
    }, timed
    assert all(seconds > 0 for seconds in timed.values()), timed
