"""Seeing the cluster work: live progress, EXPLAIN ANALYZE, job history, /metrics, the web page.

One cluster with its HTTP side port serves every test here; TPC-H q9 is the query
that moves. Its stage and task counts come from the planner (``Q9Shape``): the
cluster must report exactly the work its plan holds.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pexpect
import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.config import SchedulerConfig
from ballista_flight.plan.physical import snapshot
from ballista_flight.plan.session import make_context, placeholder
from ballista_flight.plan.stages import cut_stages, slice_tasks
from ballista_flight.scheduler.jobs import planner_settings
from ballista_flight.standalone import StandaloneCluster, free_port
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, ROOT, register_tpch
from tests.e2e.cluster_utils import http_get, metric_samples

if TYPE_CHECKING:
    from collections.abc import Iterator

    from datafusion import SessionContext

pytestmark = pytest.mark.slow

Q9 = (QUERIES_DIR / "q09.sql").read_text()
ARTIFACTS = ROOT / "test-artifacts"
CLI = [sys.executable, "-m", "ballista_flight"]


class Observed:
    """A cluster with its HTTP port, and a client with TPC-H registered."""

    def __init__(self, cluster: StandaloneCluster, http: str, ctx: ballista_flight.Context) -> None:
        self.cluster = cluster
        self.http = http
        self.ctx = ctx

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.http + path)

    def api(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, body
        return json.loads(body)

    def samples(self) -> dict[str, float]:
        return metric_samples(self.http)


class Q9Shape:
    """Stages and tasks of q9 as the scheduler plans it for the cluster below (2 executors, 4 slots)."""

    def __init__(self, tpch_dir: Path) -> None:
        ctx = make_context(4, planner_settings(SchedulerConfig()))
        register_tpch(ctx, tpch_dir)
        stages = cut_stages(snapshot(ctx.sql(Q9).execution_plan(), ctx), placeholder)
        slice_tasks(stages, executors=2)
        self.stages = len(stages)
        self.tasks = sum(stage.tasks for stage in stages)
        self.final = stages[-1].stage_id


@pytest.fixture(scope="module")
def q9(tpch_dir: Path) -> Q9Shape:
    return Q9Shape(tpch_dir)


@pytest.fixture(scope="module")
def observed(tpch_dir: Path) -> Iterator[Observed]:
    port = free_port()
    # Two slots per executor whatever the machine, so the numbers below hold everywhere.
    cluster = StandaloneCluster(
        executors=2, slots=2, log_level="warning", extra_scheduler_args=["--http-port", str(port)]
    )
    with cluster, ballista_flight.connect(cluster.uri, timeout=120) as ctx:
        register_tpch(ctx, tpch_dir)
        yield Observed(cluster, f"http://127.0.0.1:{port}", ctx)


def test_progress_callback_sees_the_query_advance(
    observed: Observed, reference: SessionContext, q9: Q9Shape
) -> None:
    before = observed.samples()
    seen: list[ballista_flight.Progress] = []
    result = observed.ctx.sql(Q9, progress=seen.append)
    assert_same_result(result.to_arrow(), reference.sql(Q9).to_arrow_table(), ordered=True)
    assert {p.job_id for p in seen} == {result.job_id}
    done = [p.tasks_done for p in seen]
    assert len(set(done)) >= 2, f"progress never moved: {seen}"
    assert done == sorted(done)
    last = seen[-1]
    assert last.state == "succeeded"
    assert last.tasks_done == last.tasks == q9.tasks
    assert last.stages_done == last.stages == q9.stages
    assert last.rows_shuffled > 0
    assert last.bytes_shuffled > 0

    # /metrics: the counters moved by this query.
    after = observed.samples()
    for counter in (
        "ballista_flight_task_duration_seconds_count",
        "ballista_flight_shuffle_written_bytes_total",
        "ballista_flight_shuffle_written_rows_total",
        "ballista_flight_shuffle_read_bytes_total",
        "ballista_flight_jobs_finished_total[state=succeeded]",
    ):
        assert after[counter] > before.get(counter, 0), counter
    assert (
        after["ballista_flight_task_duration_seconds_count"]
        - before.get("ballista_flight_task_duration_seconds_count", 0)
        == q9.tasks
    )
    assert (
        after["ballista_flight_task_duration_seconds_bucket[le=+Inf]"]
        == after["ballista_flight_task_duration_seconds_count"]
    )
    assert after["ballista_flight_executors"] == 2
    for gauge in (
        "ballista_flight_task_queue_length",
        "ballista_flight_shuffle_store_memory_bytes",
        "ballista_flight_shuffle_store_spilled_bytes",
        "ballista_flight_operator_spilled_bytes_total",
        "ballista_flight_jobs[state=running]",
    ):
        assert gauge in after, gauge


def test_job_status_keeps_stages_tasks_executors_and_errors(observed: Observed, q9: Q9Shape) -> None:
    result = observed.ctx.sql(Q9)
    result.to_arrow()
    with flight.FlightClient(observed.cluster.uri) as client:
        body = next(iter(client.do_action(("job_status", result.job_id.encode())))).body.to_pybytes()
    status = json.loads(body)
    assert status["state"] == "JOB_SUCCEEDED"
    assert "o_orderdate" in status["sql"]
    assert int(status["tasksDone"]) == int(status["tasks"]) == q9.tasks
    map_stages = [s for s in status["stages"] if s["output"] != "result"]
    assert all(int(s["rows"]) > 0 and int(s["bytes"]) > 0 for s in map_stages)
    assert all(float(s["endS"]) >= float(s["startS"]) > 0 for s in status["stages"])

    detail = observed.api(f"/api/jobs/{result.job_id}")
    with flight.FlightClient(observed.cluster.uri) as client:
        action = ("job_detail", result.job_id.encode())
        over_flight = json.loads(next(iter(client.do_action(action))).body.to_pybytes())
    assert over_flight["task_attempts"] == detail["task_attempts"]
    attempts = detail["task_attempts"]
    assert len(attempts) == q9.tasks
    assert {a["executor_id"] for a in attempts} == {"executor-0", "executor-1"}
    assert all(0 < a["start_s"] <= a["end_s"] <= detail["elapsed_s"] for a in attempts)
    final = [a for a in attempts if a["stage_id"] == q9.final]
    assert len(final) == 1
    assert final[0]["rows"] == 175

    shown = subprocess.run(
        [*CLI, "jobs", "--scheduler", observed.cluster.uri, "--status", result.job_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"job {result.job_id}: succeeded" in shown.stdout
    assert f"{q9.tasks}/{q9.tasks} tasks" in shown.stdout
    assert "| SortPreservingMergeExec |" in shown.stdout
    assert f"{q9.stages} rows" in shown.stdout  # one per stage

    with pytest.raises(flight.FlightError, match="missing"):
        observed.ctx.execute("SELECT * FROM missing")
    failed = observed.api("/api/jobs?limit=1")[0]
    assert failed["state"] == "failed"
    assert "missing" in failed["error"]
    assert observed.get("/api/jobs/nope")[0] == 404


def test_explain_analyze_q9_rows_add_up_across_stages(
    observed: Observed, reference: SessionContext, q9: Q9Shape
) -> None:
    table = observed.ctx.execute("EXPLAIN ANALYZE " + Q9)
    plans = dict(zip(table.column("plan_type").to_pylist(), table.column("plan").to_pylist(), strict=True))
    stages = {s["stage_id"]: s for s in json.loads(plans["distributed_plan_metrics"])}
    assert len(stages) == q9.stages
    consumers = {i: s for s in stages.values() for i in s["inputs"]}
    for stage_id, stage in stages.items():
        assert stage["tasks_done"] == stage["tasks"]
        assert stage["operators"], f"stage {stage_id} reported no operator metrics"
        if stage_id in consumers:  # what this stage wrote is what its consumer read
            consumer = consumers[stage_id]
            edge = next(e for e in consumer["input_edges"] if e["stage_id"] == stage_id)
            assert edge["rows_written"] == stage["output_rows"]
            # Read by the consumer's shuffle scans (DataFusion's metrics on the executors) ...
            assert edge["rows_read"] == consumer["rows_read"][str(stage_id)]
            # ... equals what was written: once per partition, or once per consumer task
            # for a build side every task reads whole (CollectLeft joins).
            assert edge["rows_read"] == edge["rows_expected"]
            assert edge["rows_read"] in (stage["output_rows"], stage["output_rows"] * consumer["tasks"])
            if edge["kind"] == "repartition":
                assert edge["rows_read"] == stage["output_rows"] > 0
    final = stages[max(stages)]
    assert final["output_rows"] == reference.sql(Q9).to_arrow_table().num_rows == 175
    scanned = sum(
        op["output_rows"] for s in stages.values() for op in s["operators"] if op["name"] == "DataSourceExec"
    )
    assert scanned > 600_000  # lineitem alone has 600,572 rows at SF0.1
    assert any(op["elapsed_compute_s"] > 0 for s in stages.values() for op in s["operators"])
    text = plans["distributed_plan_analyzed"]
    assert "ShuffleReadExec: stage=0, metrics=[output_rows=" in text
    assert f"Stage {q9.final}: 1 task" in text
    dot = plans["distributed_plan_dot"]
    assert dot.startswith("digraph")
    assert f"{stages[0]['output_rows']} rows" in dot  # stages and exchanges carry their numbers


def test_explain_as_graphviz_dot(observed: Observed, q9: Q9Shape) -> None:
    dot = observed.ctx.sql(Q9).explain(format="dot")
    assert dot.startswith("digraph stages {")
    assert dot.count("[shape=box") == q9.stages
    table = observed.ctx.execute("EXPLAIN FORMAT GRAPHVIZ " + Q9)
    assert table.column("plan").to_pylist() == [dot]
    out = subprocess.run(
        [*CLI, "sql", "--scheduler", observed.cluster.uri, "--explain-dot", "-c", "EXPLAIN " + Q9],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("digraph stages {")


def _run_under_pty(args: list[str]) -> str:
    child = pexpect.spawn(CLI[0], [*CLI[1:], *args], encoding="utf-8", timeout=60, dimensions=(40, 200))
    chunks: list[str] = []
    while True:
        try:
            chunks.append(child.read_nonblocking(65536, timeout=60))
        except pexpect.EOF:
            break
    child.close()
    assert child.exitstatus == 0, "".join(chunks)
    return "".join(chunks)


def test_cli_progress_bar_advances_then_the_table(observed: Observed) -> None:
    query = " ".join(Q9.split())
    # 16 partitions per exchange (whole stages run one task per executor, the others 16),
    # so the bar has time to move
    # (it appears after 0.2 s) even on a fast machine; then back to the default.
    script = f"SET ballista.shuffle_partitions = 16; {query}; SET ballista.shuffle_partitions = 0"
    out = _run_under_pty(["sql", "--scheduler", observed.cluster.uri, "-c", script])
    states = re.findall(r"stages \d+/\d+ · tasks (\d+)/(\d+)", out)
    assert len({total for _, total in states}) == 1
    assert int(states[-1][1]) > 16  # more than one stage of 16 tasks
    assert len(set(states)) >= 2, f"the bar never advanced: {out!r}"
    done = [int(t) for t, _ in states]
    assert done == sorted(done)
    last_bar = out.rindex("tasks ")
    table = out.index("| nation")
    assert table > last_bar, "the table must come after the bar"
    assert "\r\x1b[K" in out[last_bar:table], "the bar is erased before the table"
    assert "175 rows" in out[table:]

    plain = _run_under_pty(["sql", "--no-progress", "--scheduler", observed.cluster.uri, "-c", query])
    assert "tasks " not in plain
    assert "175 rows" in plain
    piped = subprocess.run(
        [*CLI, "sql", "--scheduler", observed.cluster.uri, "-c", query],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stdout + piped.stderr
    assert "175 rows" in piped.stdout


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    return exe


def test_web_page_shows_a_finished_job_with_its_stages(observed: Observed, q9: Q9Shape) -> None:
    result = observed.ctx.sql(Q9)
    result.to_arrow()
    url = f"{observed.http}/#job={result.job_id}"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=4000",
        "--window-size=1400,1200",
    ]
    dom = subprocess.run(
        [_chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    assert 'data-loaded="true"' in dom, dom[:2000]
    job = dom[dom.index('id="job"') :]
    assert result.job_id in job
    assert "succeeded" in job
    for stage in range(q9.stages):
        assert f'<g class="stage" data-stage="{stage}">' in job, f"stage {stage} missing from the graph"
        assert f'<tr data-stage="{stage}">' in job, f"stage {stage} missing from the table"
    assert f"{q9.tasks}/{q9.tasks} tasks" in dom  # the job's row in the jobs table
    assert "executor-0" in dom
    assert "executor-1" in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-ui.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [_chromium(), *flags, f"--screenshot={shot}", url], capture_output=True, timeout=60, check=False
    )
    assert shot.exists()
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    executors = observed.api("/api/executors")
    assert sorted(e["executor_id"] for e in executors) == ["executor-0", "executor-1"]
    assert all(e["slots"] >= 1 and e["tasks_done"] > 0 for e in executors)
    assert observed.get(f"/api/jobs/{result.job_id}/dot")[1].startswith("digraph")


def test_web_page_wants_the_cluster_credentials_when_auth_is_on() -> None:
    port = free_port()
    cluster = StandaloneCluster(
        executors=0,
        log_level="warning",
        auth_users="alice:s3cret",
        extra_scheduler_args=["--http-port", str(port)],
    )
    with cluster:
        base = f"http://127.0.0.1:{port}"

        def get(path: str, authorization: str | None = None) -> tuple[int, str]:
            request = urllib.request.Request(base + path)
            if authorization:
                request.add_header("Authorization", authorization)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.headers.get("WWW-Authenticate") or ""
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers.get("WWW-Authenticate") or ""

        basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        wrong = "Basic " + base64.b64encode(b"alice:nope").decode()
        for path in ("/", "/api/jobs", "/api/executors"):
            assert get(path) == (401, 'Basic realm="ballista-flight"')
            assert get(path, wrong)[0] == 401
            assert get(path, basic)[0] == 200
        assert get("/metrics")[0] == 200  # scrapes and probes stay open
        assert get("/healthz")[0] == 200
