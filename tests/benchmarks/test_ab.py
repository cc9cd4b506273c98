"""Smoke test of benchmarks/ab.py at SF0.01: a revision and this tree take turns, answers checked."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.benchmarks import ROOT, run_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def _worktrees() -> str:
    return subprocess.run(
        ["git", "worktree", "list"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def test_base_and_this_tree_take_turns_and_the_worktree_goes(tmp_path: Path) -> None:
    before = _worktrees()
    args = [
        "--base",
        "HEAD",
        "--rounds",
        "1",
        "--scale",
        "0.01",
        "--queries",
        "q01",
        "q06",
        "--out",
        str(tmp_path),
    ]
    run_script("ab.py", *args)
    lines = (tmp_path / "ab-sf0.01-memory.md").read_text().splitlines()
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    header, body = rows[0], rows[1:]
    assert header[1] == "datafusion"
    assert header[2].startswith("base (")
    assert header[3] == "this tree"
    assert [row[0] for row in body] == ["q01", "q06", "total"]
    for row in body:
        assert float(row[-1]) > 0, row
        for cell in row[1:-1]:
            assert cell.replace("*", "").split()[1].endswith("x)"), row
    assert _worktrees() == before, "the base revision's worktree is left behind"
