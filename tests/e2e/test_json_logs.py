"""--log-format json: every process of a standalone cluster logs JSON lines, job lines name the job."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.client.progress import JOB_ID_HEADER
from ballista_flight.standalone import free_port

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_json_logs_carry_the_job_id(tpch_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "ballista_flight", "--log-format", "json", "--log-level", "debug"]
    proc = subprocess.Popen(
        [*cmd, "standalone", "--executors", "1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Drain stderr while the cluster runs: a full pipe would block the processes.
    assert proc.stderr is not None
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "cluster ready" not in proc.stdout.readline():
            assert time.monotonic() < deadline
            assert proc.poll() is None, "standalone exited early"
        uri = f"grpc://127.0.0.1:{port}"
        with ballista_flight.connect(uri) as ctx:
            ctx.register_parquet("nation", f"{tpch_dir / 'nation'}/")
            # A plain Flight client naming its job through the header.
            client = flight.FlightClient(uri)
            options = flight.FlightCallOptions(headers=[(JOB_ID_HEADER, b"logged-job")])
            sql = b"SELECT n_regionkey, count(*) FROM nation GROUP BY 1"
            info = client.get_flight_info(flight.FlightDescriptor.for_command(sql), options)
            assert info.app_metadata == b"logged-job"
            rows = sum(
                flight.FlightClient(e.locations[0]).do_get(e.ticket).read_all().num_rows
                for e in info.endpoints
            )
            assert rows == 5
            with pytest.raises(flight.FlightError):
                client.get_flight_info(
                    flight.FlightDescriptor.for_command(b"SELECT * FROM missing"),
                    flight.FlightCallOptions(headers=[(JOB_ID_HEADER, b"failing-job")]),
                )
            client.close()
        time.sleep(0.3)  # the executor reports the result's end asynchronously
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    lines = [line for line in stderr_lines if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    roles = {r.get("role") for r in records}
    assert {"scheduler", "executor"} <= roles, roles
    mine = [r for r in records if r.get("job_id") == "logged-job"]
    assert {r["role"] for r in mine} == {"scheduler", "executor"}
    assert any("succeeded" in r["message"] for r in mine if r["role"] == "scheduler")
    assert any(r["message"].startswith("task: stage") for r in mine if r["role"] == "executor")
    failed = [r for r in records if r.get("job_id") == "failing-job"]
    assert any("missing" in r["message"] for r in failed)
    # Lines about a job always say which job.
    for r in records:
        if r["message"].startswith(("task: stage", "job ")):
            assert r.get("job_id"), r
