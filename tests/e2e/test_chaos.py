"""Chaos: real processes, real signals, injected task faults; every answer checked.

With test_faults.py (executor SIGKILLed mid-stage, SIGTERM drain, all executors
gone) this is the chaos suite: (b) an executor killed after its map output was
written and before the reduce stage read it, (c) a task failing twice then
succeeding, (d) retries exhausted, (f) an executor restarted. Faults are made
by the executors' ``--fault-injection`` setting (executor/faults.py), selected
by a literal only the test's query contains, so other queries run untouched.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import register_tpch
from tests.e2e.cluster_utils import executor_stats, executors
from tests.e2e.test_bad_input import assert_clean_message, assert_healthy
from tests.e2e.test_faults import _start

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from datafusion import SessionContext

pytestmark = pytest.mark.slow

# Stage 0 scans lineitem (the literal is in its filter), stage 1 aggregates, stage 2 merges.
QUERY = (
    "select l_returnflag, l_linestatus, count(*) as n, sum(l_quantity) as q from lineitem "
    "where l_comment <> '{marker}' group by l_returnflag, l_linestatus order by 1, 2"
)
FAULTS = "fail:stage=0,partition=1,times=2,match=chaos-twice;fail:stage=0,match=chaos-always"


def _action(uri: str, name: str, body: bytes = b"") -> Any:
    with flight.FlightClient(uri) as client:
        return json.loads(next(iter(client.do_action((name, body)))).body.to_pybytes())


def _last_job(uri: str, marker: str) -> dict[str, Any]:
    jobs = [j for j in _action(uri, "list_jobs") if marker in j.get("sql", "")]
    return jobs[-1]  # type: ignore[no-any-return]


def _attempts(uri: str, job_id: str, stage: int) -> dict[int, list[int]]:
    """Attempt numbers of the successful runs of each task of ``stage``."""
    out: dict[int, list[int]] = {}
    for task in _action(uri, "job_profile", job_id.encode())["tasks"]:
        if int(task.get("stageId", 0)) == stage:
            out.setdefault(int(task.get("partition", 0)), []).append(int(task.get("attempt", 0)))
    return out


def _stage_tasks(uri: str, job_id: str, stage: int) -> int:
    """Tasks the scheduler planned for ``stage`` of a job."""
    stages = _action(uri, "job_status", job_id.encode())["stages"]
    return int(next(s for s in stages if int(s.get("stageId", 0)) == stage)["tasks"])


@pytest.fixture(scope="module")
def faulty(tpch_dir: Path) -> Iterator[tuple[StandaloneCluster, ballista_flight.Context]]:
    cluster = StandaloneCluster(
        executors=2,
        slots=2,
        log_level="critical",
        extra_scheduler_args=["--task-attempts", "3"],
        extra_executor_args=["--fault-injection", FAULTS],
    )
    with cluster, ballista_flight.connect(cluster.uri, timeout=120) as ctx:
        register_tpch(ctx, tpch_dir)
        yield cluster, ctx


def test_task_failing_twice_then_succeeding(
    faulty: tuple[StandaloneCluster, ballista_flight.Context], reference: SessionContext
) -> None:
    cluster, ctx = faulty
    sql = QUERY.format(marker="chaos-twice")
    assert_same_result(ctx.sql(sql).to_arrow(), reference.sql(sql).to_arrow_table(), ordered=True)
    job = _last_job(cluster.uri, "chaos-twice")
    expected = {task: [1] for task in range(_stage_tasks(cluster.uri, job["jobId"], 0))}
    expected[1] = [3]  # failed twice, then succeeded on its third attempt
    assert _attempts(cluster.uri, job["jobId"], 0) == expected


def test_retries_exhausted_fail_clearly_and_the_cluster_stays_healthy(
    faulty: tuple[StandaloneCluster, ballista_flight.Context], reference: SessionContext
) -> None:
    cluster, ctx = faulty
    with pytest.raises(flight.FlightError) as info:
        ctx.sql(QUERY.format(marker="chaos-always")).to_arrow()
    # What failed where: the stage, the task, the attempts, the executor and the error.
    assert_clean_message(
        info.value, "stage 0 task", "failed 3 times", "on executor executor-", "injected fault"
    )
    assert _last_job(cluster.uri, "chaos-always")["state"] == "JOB_FAILED"
    assert_healthy(ctx)
    sql = QUERY.format(marker="no fault here")
    assert_same_result(ctx.sql(sql).to_arrow(), reference.sql(sql).to_arrow_table(), ordered=True)


def test_executor_killed_between_map_output_and_its_reader(tpch_dir: Path, reference: SessionContext) -> None:
    # The reduce stage (1) stalls on its first attempt: its inputs are written and unread.
    cluster = StandaloneCluster(
        executors=2,
        slots=2,
        log_level="critical",
        extra_executor_args=["--fault-injection", "stall:stage=1,seconds=3,times=1"],
    )
    sql = QUERY.format(marker="chaos-kill")
    with cluster, ballista_flight.connect(cluster.uri, timeout=120) as ctx:
        register_tpch(ctx, tpch_dir)
        thread, outcome = _start(ctx, sql)
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "stage 0 never completed"
            jobs = [j for j in _action(cluster.uri, "list_jobs") if "chaos-kill" in j.get("sql", "")]
            stages = {int(s.get("stageId", 0)): s for s in (jobs[-1].get("stages", []) if jobs else [])}
            if stages and int(stages[0].get("tasksDone", 0)) == int(stages[0]["tasks"]):
                break
            time.sleep(0.02)
        job_id = jobs[-1]["jobId"]
        holders = {t.get("executorId") for t in _action(cluster.uri, "job_profile", job_id.encode())["tasks"]}
        assert "executor-1" in holders, holders
        os.kill(cluster.executors[1].pid, signal.SIGKILL)
        thread.join(120)
        assert "error" not in outcome, outcome.get("error")
        assert_same_result(outcome["table"], reference.sql(sql).to_arrow_table(), ordered=True)  # type: ignore[arg-type]
        # The map tasks whose output died with executor-1 ran again.
        reruns = [p for p, tries in _attempts(cluster.uri, job_id, 0).items() if max(tries) > 1]
        assert reruns, _attempts(cluster.uri, job_id, 0)


def test_restarted_executor_rejoins_and_gets_work(tpch_dir: Path, reference: SessionContext) -> None:
    with (
        StandaloneCluster(executors=2, slots=1, log_level="critical") as cluster,
        ballista_flight.connect(cluster.uri, timeout=120) as ctx,
    ):
        register_tpch(ctx, tpch_dir)
        victim = cluster.executors[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        sql = QUERY.format(marker="chaos-restart")
        # Meanwhile the survivor answers (tasks sent to the dead one are retried).
        assert_same_result(ctx.sql(sql).to_arrow(), reference.sql(sql).to_arrow_table(), ordered=True)
        cluster.restart_executor(1)
        assert sorted(e["executor_id"] for e in executors(cluster.uri)) == ["executor-0", "executor-1"]
        assert_same_result(ctx.sql(sql).to_arrow(), reference.sql(sql).to_arrow_table(), ordered=True)
        rejoined = next(s for s in executor_stats(cluster.uri) if s["executor_id"] == "executor-1")
        assert rejoined["tasks_run"] > 0


@pytest.mark.parametrize("tiny_stage_bytes", [0, 1 << 20], ids=["stage-1-tasks", "stage-1-fused"])
def test_executor_holding_the_final_stage_inputs_dies_before_they_are_read(
    tpch_dir: Path, reference: SessionContext, tiny_stage_bytes: int
) -> None:
    # The final stage (2) stalls on its first attempt, after GetFlightInfo answered:
    # executor-1, holding half of stage 1's output, dies while the endpoints are fetched.
    # The client retries the endpoint at the scheduler, which recomputes the lost output.
    # With tiny stages on, stage 1 runs inside stage 2, which reads stage 0's output.
    cluster = StandaloneCluster(
        executors=2,
        slots=2,
        log_level="critical",
        extra_scheduler_args=["--tiny-stage-bytes", str(tiny_stage_bytes)],
        extra_executor_args=["--fault-injection", "stall:stage=2,seconds=2,times=1"],
    )
    sql = QUERY.format(marker="chaos-final")
    with cluster, ballista_flight.connect(cluster.uri, timeout=120) as ctx:
        register_tpch(ctx, tpch_dir)
        thread, outcome = _start(ctx, sql)
        deadline = time.monotonic() + 30
        while not (
            jobs := [j for j in _action(cluster.uri, "list_jobs") if "chaos-final" in j.get("sql", "")]
        ) or (jobs[-1]["state"] != "JOB_RESULTS_READY"):
            assert time.monotonic() < deadline, "the result was never ready"
            assert thread.is_alive(), outcome
            time.sleep(0.02)
        job_id = jobs[-1]["jobId"]
        os.kill(cluster.executors[1].pid, signal.SIGKILL)
        thread.join(120)
        assert "error" not in outcome, outcome.get("error")
        assert_same_result(outcome["table"], reference.sql(sql).to_arrow_table(), ordered=True)  # type: ignore[arg-type]
        tasks = _action(cluster.uri, "job_profile", job_id.encode())["tasks"]
        map_stages = [0, 1] if tiny_stage_bytes == 0 else [0]
        stages = _action(cluster.uri, "job_status", job_id.encode())["stages"]
        assert sorted(int(s.get("stageId", 0)) for s in stages) == [*map_stages, 2]
        planned = sum(_stage_tasks(cluster.uri, job_id, stage) for stage in map_stages)
        ran = [t for t in tasks if int(t.get("stageId", 0)) in map_stages]
        assert len(ran) > planned, "no map task ran again"
