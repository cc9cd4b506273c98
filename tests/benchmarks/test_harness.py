"""Smoke test of the benchmark harness at SF0.01: it runs, and it notices wrong answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from benchmarks.tpch import agrees, table
from tests.benchmarks import run_script

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_tpch_harness_runs_and_writes_its_outputs(tmp_path: Path) -> None:
    run_script("tpch.py", "--scale", "0.01", "--runs", "1", "--queries", "q01", "q03", "--shuffle", "memory",
               "--engines", "duckdb", "--out", str(tmp_path))  # fmt: skip
    text = (tmp_path / "tpch-sf0.01.md").read_text()
    assert "All engines returned the same rows" in text
    assert "| q03 |" in text
    assert "ballista-flight (2x, memory)" in text
    assert (tmp_path / "tpch-sf0.01.json").exists()
    assert (tmp_path / "tpch-sf0.01.png").read_bytes()[:4] == b"\x89PNG"


def test_a_wrong_answer_is_reported() -> None:
    good = pa.table({"a": [1, 2]})
    assert agrees(good, good, "select a from t order by a", by_position=False, label="same")
    assert not agrees(pa.table({"a": [1, 3]}), good, "select a from t", by_position=False, label="wrong")
    from benchmarks.tpch import Outcome

    outcomes = {
        "datafusion": Outcome(seconds={"q1": 1.0}, agree={"q1": True}),
        "other": Outcome(seconds={"q1": 2.0}, agree={"q1": False}),
    }
    assert "**differs**" in table(outcomes, ["q1"])


def test_the_warm_up_pass_runs_every_query_once_and_leaves_errors_to_the_timed_runs() -> None:
    from benchmarks.tpch import Engine, warm_up

    ran: list[str] = []

    def run(sql: str) -> pa.Table:
        ran.append(sql)
        if sql == "bad":
            raise ValueError("no such table")
        return pa.table({"a": [1]})

    warm_up("engine", Engine(run, lambda: None), {"q1": "good", "q2": "bad", "q3": "also good"})
    assert ran == ["good", "bad", "also good"]


def test_engines_take_turns_run_by_run_and_each_gets_the_median_of_its_own_runs() -> None:
    """A slow second falls on one run of each engine, not on all runs of one engine."""
    from benchmarks.tpch import Engine, run_engines

    calls: list[str] = []
    own_times = iter([0.5, 0.1, 0.3])

    def engine(name: str) -> Engine:
        def run(sql: str) -> pa.Table:
            calls.append(name)
            return pa.table({"a": [1]})

        if name == "ballista-flight":  # times itself, as Apache Ballista's client process does
            return Engine(run, lambda: None, timed=lambda sql: (next(own_times), run(sql)))
        return Engine(run, lambda: None)

    outcomes = run_engines(
        [
            ("datafusion", lambda: engine("datafusion")),
            ("ballista-flight", lambda: engine("ballista-flight")),
        ],
        {"q1": "select 1"},
        runs=3,
    )
    d, b = "datafusion", "ballista-flight"
    # warm-up pass, warm-up run, then three timed runs in rotated order
    assert calls == [d, b, d, b, d, b, b, d, d, b]
    assert outcomes[b].seconds == {"q1": 0.3}
    assert outcomes[d].agree == outcomes[b].agree == {"q1": True}
