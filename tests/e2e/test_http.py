"""The HTTP side port: probes answer, /metrics parses and its counters move after a query."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

import ballista_flight
from ballista_flight.standalone import StandaloneCluster
from tests.conftest import QUERIES_DIR, register_tpch
from tests.e2e.cluster_utils import executor_stats

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(url: str) -> dict[str, float]:
    status, text = _get(url + "/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"[{k}={v}]" for k, v in sorted(sample.labels.items()))
            out[key] = sample.value
    return out


def test_probes_and_metrics(tpch_dir: Path) -> None:
    port = _free_port()
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
            assert _get(url + "/healthz") == (200, "ok\n")
            assert _get(url + "/readyz")[0] == 200
            assert _get(url + "/nope")[0] == 404
        before = _samples(scheduler)
        before_exec = [_samples(u) for u in executors]
        assert before["ballista_flight_executors"] == 2
        register_tpch(ctx, tpch_dir)
        assert ctx.sql((QUERIES_DIR / "q03.sql").read_text()).to_arrow().num_rows == 10
        after = _samples(scheduler)
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
        after_exec = [_samples(u) for u in executors]
        assert sum(a["ballista_flight_tasks_run_total"] for a in after_exec) > sum(
            b["ballista_flight_tasks_run_total"] for b in before_exec
        )
        assert "ballista_flight_shuffle_memory_bytes" in after_exec[0]
