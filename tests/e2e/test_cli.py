"""The ballista-flight command: standalone start/stop, and the sql command against it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "ballista_flight"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = _free_port()
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
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "cluster processes outlived their parent"
