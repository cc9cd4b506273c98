"""Smoke test of benchmarks/shuffle.py at SF0.01: small enough to run as one task, yet shuffled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.benchmarks import run_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_every_path_moves_bytes_and_gets_a_share_of_raw_doget(tmp_path: Path) -> None:
    run_script("shuffle.py", "--scale", "0.01", "--runs", "1", "--out", str(tmp_path))
    lines = (tmp_path / "shuffle-sf0.01.md").read_text().splitlines()
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    paths = [row[0] for row in rows[1:]]  # after the header
    assert paths[0] == "raw pyarrow.flight DoGet, one stream"
    assert paths.count("the same, then every row read by the consumer's plan") == 2
    for mode in ("memory", "disk"):
        assert f"ballista-flight executor to executor, {mode} shuffle, isolated" in paths
        inside = f"ballista-flight executor to executor, {mode} shuffle, inside the query"
        assert any(path.startswith(inside) for path in paths), paths
    assert len(paths) == 7, paths
    for _, megabytes, seconds, _, share in rows[1:]:
        assert int(megabytes) >= 0, rows
        assert float(seconds) > 0, rows
        assert share.endswith("%"), rows
        assert int(share[:-1]) > 0, rows
