"""The HTTP side port: probes answer, /metrics parses and its counters move after a query."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

import ballista_flight
from ballista_flight.standalone import StandaloneCluster, free_port
from tests.conftest import QUERIES_DIR, register_tpch
from tests.e2e.cluster_utils import executor_stats, http_get, metric_samples

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_probes_and_metrics(tpch_dir: Path) -> None:
    port = free_port()
    cluster = StandaloneCluster(
        executors=2,
        log_level="warning",
        extra_scheduler_args=["--http-port", str(port)],
        extra_executor_args=["--http-port", "0"],
    )
    with cluster, ballista_flight.connect(cluster.uri) as ctx:
        scheduler = f"http://127.0.0.1:{port}"
        executors = [f"http://127.0.0.1:{s['http_port']}" for s in executor_stats(cluster.uri)]
        for url in [scheduler, *executors]:
            assert http_get(url + "/healthz") == (200, "ok\n")
            assert http_get(url + "/readyz")[0] == 200
            assert http_get(url + "/nope")[0] == 404
        before = metric_samples(scheduler)
        before_exec = [metric_samples(u) for u in executors]
        assert before["ballista_flight_executors"] == 2
        register_tpch(ctx, tpch_dir)
        assert ctx.sql((QUERIES_DIR / "q03.sql").read_text()).to_arrow().num_rows == 10
        after = metric_samples(scheduler)
        assert (
            after["ballista_flight_task_duration_seconds_count"]
            > before["ballista_flight_task_duration_seconds_count"]
        )
        assert (
            after["ballista_flight_shuffle_written_bytes_total"]
            > before["ballista_flight_shuffle_written_bytes_total"]
        )
        assert (
            after["ballista_flight_jobs[state=succeeded]"]
            >= before["ballista_flight_jobs[state=succeeded]"] + 1
        )
        after_exec = [metric_samples(u) for u in executors]
        assert sum(a["ballista_flight_tasks_run_total"] for a in after_exec) > sum(
            b["ballista_flight_tasks_run_total"] for b in before_exec
        )
        assert "ballista_flight_shuffle_memory_bytes" in after_exec[0]


def _wait_status(url: str, status: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while http_get(url)[0] != status:
        assert time.monotonic() < deadline, f"{url} never answered {status}"
        time.sleep(0.05)


def test_readiness_follows_registration_and_drain(tmp_path: Path) -> None:
    """Scheduler: ready with at least one executor. Executor: ready while registered, not draining.

    Kubernetes routes the client Service by these, and stops routing to a draining executor.
    """
    from ballista_flight.config import ExecutorConfig, SchedulerConfig
    from ballista_flight.executor.server import ExecutorServer
    from ballista_flight.scheduler.server import SchedulerServer

    scheduler = SchedulerServer(SchedulerConfig(port=0, http_port=0, heartbeat_timeout_s=60))
    executor = ExecutorServer(
        ExecutorConfig(scheduler=scheduler.uri, port=0, http_port=0, work_dir=tmp_path, slots=1)
    )
    assert scheduler.http is not None
    assert executor.http is not None
    sched_url = f"http://127.0.0.1:{scheduler.http.port}"
    exec_url = f"http://127.0.0.1:{executor.http.port}"
    stopper = None
    try:
        assert http_get(sched_url + "/healthz")[0] == 200
        assert http_get(sched_url + "/readyz") == (503, "not ready\n")  # no executor yet
        assert http_get(exec_url + "/readyz")[0] == 503  # not registered yet
        executor.start()
        _wait_status(exec_url + "/readyz", 200)
        _wait_status(sched_url + "/readyz", 200)
        # Drain with a task still running (counted as the server counts one): not ready,
        # deregistered, yet still alive until the task ends.
        with executor._running_lock:
            executor._running += 1
        stopper = threading.Thread(target=executor.stop, kwargs={"grace_s": 30})
        stopper.start()
        _wait_status(exec_url + "/readyz", 503)
        assert http_get(exec_url + "/healthz")[0] == 200
        _wait_status(sched_url + "/readyz", 503)  # its only executor left
    finally:
        with executor._running_lock:
            executor._running = 0
        if stopper is None:
            executor.stop(grace_s=0)
        else:
            stopper.join(30)
        scheduler.stop()
