"""A lost executor costs time, not answers: tasks are retried, lost map output recomputed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, register_tpch

if TYPE_CHECKING:
    from pathlib import Path

    from datafusion import SessionContext

pytestmark = pytest.mark.slow


def _tasks_done(uri: str) -> int:
    with flight.FlightClient(uri) as client:
        jobs = json.loads(next(iter(client.do_action("list_jobs"))).body.to_pybytes())
    running = [j for j in jobs if j.get("state") == "JOB_RUNNING"]
    return sum(int(s.get("tasksDone", 0)) for j in running for s in j.get("stages", []))


def _start(ctx: ballista_flight.Context, sql: str) -> tuple[threading.Thread, dict[str, object]]:
    """Run ``sql`` in a thread; the dict gets its "table" or its "error"."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["table"] = ctx.sql(sql).to_arrow()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_for_tasks(uri: str, count: int, thread: threading.Thread) -> None:
    """Until ``count`` tasks of the running job finished (or the query already did)."""
    deadline = time.monotonic() + 30
    while thread.is_alive() and _tasks_done(uri) < count:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.005)


@pytest.mark.parametrize("query", ["q21", "q09"])
def test_executor_killed_while_map_stages_run(tpch_dir: Path, reference: SessionContext, query: str) -> None:
    sql = (QUERIES_DIR / f"{query}.sql").read_text()
    with StandaloneCluster(executors=3, slots=1, log_level="error") as cluster:
        with ballista_flight.connect(cluster.uri, timeout=120) as ctx:
            register_tpch(ctx, tpch_dir)
            thread, outcome = _start(ctx, sql)
            _wait_for_tasks(cluster.uri, 2, thread)  # some map output exists somewhere
            victim = cluster.executors[1]
            os.kill(victim.pid, signal.SIGKILL)
            thread.join(120)
        assert "error" not in outcome, outcome.get("error")
        assert_same_result(outcome["table"], reference.sql(sql).to_arrow_table(), ordered=True)  # type: ignore[arg-type]


def test_sigterm_drains_an_executor_without_losing_the_query(
    tpch_dir: Path, reference: SessionContext
) -> None:
    sql = (QUERIES_DIR / "q21.sql").read_text()
    cluster = StandaloneCluster(executors=2, slots=1, log_level="error")
    with cluster, ballista_flight.connect(cluster.uri, timeout=120) as ctx:
        register_tpch(ctx, tpch_dir)
        thread, outcome = _start(ctx, sql)
        _wait_for_tasks(cluster.uri, 1, thread)
        victim = cluster.executors[1]
        victim.send_signal(signal.SIGTERM)
        thread.join(120)
        assert victim.wait(40) == 0
        assert "error" not in outcome, outcome.get("error")
        assert_same_result(outcome["table"], reference.sql(sql).to_arrow_table(), ordered=True)  # type: ignore[arg-type]
        # The drained executor is gone from the cluster; the survivor answers the next query.
        with flight.FlightClient(cluster.uri) as client:
            listed = json.loads(next(iter(client.do_action("list_executors"))).body.to_pybytes())
        assert [e["executor_id"] for e in listed] == ["executor-0"]
        assert ctx.sql("select count(*) as n from nation").to_arrow().column("n").to_pylist() == [25]


def test_all_executors_gone_fails_fast_with_a_clear_error(tpch_dir: Path) -> None:
    cluster = StandaloneCluster(
        executors=2, log_level="critical", extra_scheduler_args=["--executor-wait-s", "3"]
    )
    with cluster, ballista_flight.connect(cluster.uri, timeout=60) as ctx:
        register_tpch(ctx, tpch_dir)
        for proc in cluster.executors:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        started = time.monotonic()
        with pytest.raises(flight.FlightError) as info:
            ctx.sql((QUERIES_DIR / "q03.sql").read_text()).to_arrow()
        assert time.monotonic() - started < 15
        message = str(info.value).split(". Detail:")[0]
        assert "unreachable" in message or "no executors" in message, message
        assert "Traceback" not in message
        # The scheduler itself is fine and says so.
        assert ctx.execute("SHOW TABLES").num_rows > 0
