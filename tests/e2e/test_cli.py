"""The ballista-flight command: standalone start/stop, and the sql command against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.standalone import StandaloneCluster, free_port
from tests.conftest import register_tpch
from tests.e2e.cluster_utils import executor_stats, wait_until_released

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "ballista_flight"]
# A shell's background job (`make test &`) ignores SIGINT, and Python then installs no
# KeyboardInterrupt handler: start the CLI with a terminal's Ctrl-C behaviour regardless.
CLI_WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'ballista-flight'; runpy.run_module('ballista_flight', run_name='__main__')",
]


def _cli(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_standalone_runs_sql_and_stops_cleanly_on_sigterm(tpch_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [*CLI, "--log-level", "warning", "standalone", "--executors", "2", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "cluster ready" not in line:
            assert time.monotonic() < deadline, "standalone never said it was ready"
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "standalone exited early"
        assert f"grpc://127.0.0.1:{port}" in line
        children = _children(proc.pid)
        assert len(children) == 3, children  # the scheduler and two executors

        uri = f"grpc://127.0.0.1:{port}"
        script = (
            f"CREATE EXTERNAL TABLE nation STORED AS PARQUET LOCATION '{tpch_dir / 'nation'}/';\n"
            "SELECT n_regionkey, count(*) AS n FROM nation GROUP BY n_regionkey ORDER BY n_regionkey;\n"
        )
        out = _cli("sql", "--scheduler", uri, "-c", script, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "| n_regionkey | n |" in out.stdout
        assert "5 rows" in out.stdout
        bad = _cli("sql", "--scheduler", uri, "-c", "SELECT * FROM missing")
        assert bad.returncode == 1
        assert "missing" in bad.stderr
        assert "Traceback" not in bad.stderr

        # The interactive prompt: statements end with ';' and may span lines.
        prompt = _cli(
            "sql", "--scheduler", uri, stdin="SELECT n_name\nFROM nation WHERE n_nationkey = 7;\n\\q\n"
        )
        assert prompt.returncode == 0, prompt.stderr
        assert "GERMANY" in prompt.stdout
        assert "1 row" in prompt.stdout

        jobs = _cli("jobs", "--scheduler", uri)
        assert jobs.returncode == 0, jobs.stderr
        assert "succeeded" in jobs.stdout
        assert "failed" in jobs.stdout  # the SELECT from a missing table
        assert "missing" in jobs.stdout

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        for pid in children:
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(pid), f"process {pid} left behind"
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_in_sql_cancels_the_running_query(tpch_dir: Path) -> None:
    # Stage 1 (the aggregation) stalls on its first attempt: the job sits mid-query with
    # stage 0's shuffle output on the executors when Ctrl-C arrives. The stall is long (a
    # loaded machine may take seconds to send the signal) and ends when the job is released.
    cluster = StandaloneCluster(
        executors=2,
        slots=2,
        log_level="critical",
        extra_executor_args=["--fault-injection", "stall:stage=1,seconds=20,times=1"],
    )
    sql = (
        "select l_returnflag, count(*) as n from lineitem where l_comment <> 'ctrl-c' "
        "group by l_returnflag order by 1"
    )
    with cluster, ballista_flight.connect(cluster.uri, timeout=60) as ctx:
        register_tpch(ctx, tpch_dir)
        proc = subprocess.Popen(
            [*CLI_WITH_CTRL_C, "sql", "--scheduler", cluster.uri, "-c", sql],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert time.monotonic() < deadline, "the query never got going"
                mine = [j for j in _jobs(cluster.uri) if j.get("sql") == sql]
                stages = mine[-1].get("stages", []) if mine else []
                if stages and all(int(s.get("tasksDone", 0)) == int(s["tasks"]) for s in stages[:1]):
                    break
                time.sleep(0.02)
            assert any(s["jobs"] for s in executor_stats(cluster.uri)), "no shuffle data to free"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 130
            assert proc.stderr is not None
            assert f"Cancelled job {mine[-1]['jobId']}" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
        job = next(j for j in _jobs(cluster.uri) if j["jobId"] == mine[-1]["jobId"])
        assert job["state"] == "JOB_CANCELLED"
        stats = wait_until_released(cluster.uri)
        assert all(not s["jobs"] and not s["memory_bytes"] and not s["disk_bytes"] for s in stats), stats
        assert not [p for p in cluster.work_dir.rglob(f"*{job['jobId']}*")]
        assert ctx.execute("select count(*) as n from nation").column("n").to_pylist() == [25]


def _jobs(uri: str) -> list[dict[str, Any]]:
    with flight.FlightClient(uri) as client:
        return json.loads(next(iter(client.do_action("list_jobs"))).body.to_pybytes())  # type: ignore[no-any-return]


def test_help_lists_commands_and_environment() -> None:
    out = _cli("executor", "--help")
    assert out.returncode == 0
    for flag in ("--scheduler", "--shuffle", "--work-dir", "--slots", "--memory-limit"):
        assert flag in out.stdout
    assert "BALLISTA_FLIGHT_MEMORY_LIMIT" in out.stdout


def test_a_killed_parent_takes_its_cluster_with_it() -> None:
    script = (
        "from ballista_flight.standalone import StandaloneCluster\n"
        "import time\n"
        "c = StandaloneCluster(executors=1, log_level='error'); c.start()\n"
        "print('ready', c.scheduler.pid, *(e.pid for e in c.executors), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    line: list[str] = []
    while not line or line[0] != "ready":
        text = parent.stdout.readline()
        assert text, "the parent exited before its cluster was ready"
        line = text.split()
    children = [int(pid) for pid in line[1:]]
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 60  # generous: a loaded 2-core machine is slow to reap
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "cluster processes outlived their parent"


def test_a_burst_of_sigterms_stops_the_scheduler() -> None:
    """Signals arriving while the handler runs must not deadlock it (they once did)."""
    proc = subprocess.Popen(
        [*CLI, "scheduler", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        assert "ready" in proc.stdout.readline()
        for _ in range(200):
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_scheduler_answers_calls_that_arrive_while_it_starts() -> None:
    """Executors register the moment the port accepts: a call must never find the server half-built."""
    import threading

    port = free_port()
    answered: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def call_until_answered() -> None:
        while not stop.is_set() and len(answered) < 50:
            try:
                with flight.FlightClient(f"grpc://127.0.0.1:{port}") as client:
                    list(client.do_action(("list_executors", b""), flight.FlightCallOptions(timeout=5)))
                answered.append(1)
            except flight.FlightUnavailableError:
                continue  # not listening yet
            except flight.FlightError as exc:
                errors.append(str(exc).split(". Detail:")[0])

    callers = [threading.Thread(target=call_until_answered) for _ in range(4)]
    for caller in callers:
        caller.start()
    scheduler = subprocess.Popen(
        [*CLI, "scheduler", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for caller in callers:
            caller.join(60)
    finally:
        stop.set()
        scheduler.terminate()
        _, stderr = scheduler.communicate(timeout=30)
    assert answered, "the scheduler never answered"
    assert not errors, errors[:3]
    assert "internal error" not in stderr, stderr[-2000:]
