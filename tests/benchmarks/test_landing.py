"""Smoke test of benchmarks/landing.py at SF0.01: every way of handing the batches to a plan is timed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.benchmarks import run_script

pytestmark = pytest.mark.slow


def test_every_way_lands_the_batches_and_is_timed(tmp_path: Path) -> None:
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("landing-*"))
    run_script("landing.py", "--scale", "0.01", "--runs", "1", "--out", str(tmp_path))
    lines = (tmp_path / "landing-sf0.01.md").read_text().splitlines()
    assert lines[0].startswith("Handing "), lines[0]
    assert "as 8 partitions" in lines[0], lines[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    ways = [row[0] for row in rows[1:]]
    assert ways[0] == "in memory, read by the plan (the consumer's path)"
    assert "IPC file, fresh, then scanned by the plan" in ways
    assert "in-memory scan in the plan (encode + decode + read)" in ways
    assert len(ways) == 4, ways
    for _, wall, user, system, rate in rows[1:]:
        assert float(wall) > 0, rows
        assert float(user) >= 0, rows
        assert float(system) >= 0, rows
        assert int(rate) > 0, rows
    assert set(scratch.glob("landing-*")) == before, "the scratch directory is left behind"
