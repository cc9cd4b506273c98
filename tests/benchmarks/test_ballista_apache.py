"""The Apache Ballista runner of the TPC-H benchmark.

The wheel needs glibc 2.39; these machines have 2.36, so its processes start through Debian
13's loader (benchmarks/debian_glibc.py). The fast tests check the glibc decisions, the
commands, the results' trip through Arrow IPC and the client's protocol on real
single-process DataFusion; the slow one runs a real Ballista cluster against DataFusion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import socket
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import SessionContext

from benchmarks import ballista_apache as apache
from benchmarks.tpch import (
    Engine,
    SkipEngine,
    agrees,
    ballista_apache_engine,
    datafusion_engine,
    run_engines,
)
from tests.conftest import TPCH_TABLES, tpch_data

QUERIES = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "tpch" / "queries"


@pytest.mark.parametrize(
    ("libc", "reason", "newer_needed"),
    [
        ("glibc 2.36", None, True),
        ("glibc 2.38", None, True),
        ("glibc 2.39", None, False),
        ("glibc 2.40", None, False),
        ("glibc 3.0", None, False),
        ("", "the `ballista` wheel needs glibc 2.39; this machine's C library is not glibc", False),
        ("musl 1.2", "the `ballista` wheel needs glibc 2.39; this machine's C library is musl 1.2", False),
    ],
)
def test_only_a_c_library_other_than_glibc_skips_ballista(
    libc: str, reason: str | None, newer_needed: bool
) -> None:
    assert apache.skip_reason(libc) == reason
    assert apache.needs_newer_glibc(libc) is newer_needed


def test_on_glibc_2_39_and_later_the_processes_start_without_a_loader(tmp_path: Path) -> None:
    assert apache.launcher_for("glibc 2.39", tmp_path / "unused") == []
    assert not (tmp_path / "unused").exists()


def test_the_engine_is_skipped_with_its_reason_where_the_c_library_is_not_glibc(tmp_path: Path) -> None:
    with pytest.raises(SkipEngine, match=r"needs glibc 2\.39; this machine's C library is musl 1\.2"):
        ballista_apache_engine(tmp_path, libc="musl 1.2")
    outcomes = run_engines(
        [("apache ballista", lambda: ballista_apache_engine(tmp_path, libc="musl 1.2"))], {}, 1
    )
    assert outcomes["apache ballista"].skipped.startswith("the `ballista` wheel needs glibc 2.39")


def test_commands_pin_the_version_and_run_this_file_isolated(tmp_path: Path) -> None:
    venv = tmp_path / ".venv-ballista"
    make, install = apache.venv_commands("/usr/bin/python3", venv)
    assert make == ["/usr/bin/python3", "-m", "venv", "--clear", str(venv)]
    assert install[:4] == [str(venv / "bin" / "python"), "-m", "pip", "install"]
    assert install[-1] == f"ballista=={apache.VERSION}"
    assert apache.VERSION.startswith("54.")

    loader = ["/g/ld-linux-x86-64.so.2", "--library-path", "/g"]
    _, through_loader = apache.venv_commands("/usr/bin/python3", venv, loader)
    assert through_loader[:4] == [*loader, str(venv / "bin" / "python")]

    cluster = apache.cluster_command(["/v/bin/python"], 5001, 5002, 4)
    assert cluster == [
        "/v/bin/python", "-I", str(apache.SCRIPT), "cluster",
        "--scheduler-port", "5001", "--executor-port", "5002", "--tasks", "4",
    ]  # fmt: skip
    assert apache.cluster_command([*loader, "/v/bin/python"], 5001, 5002, 4)[:5] == [
        *loader, "/v/bin/python", "-I",
    ]  # fmt: skip
    assert apache.client_command(["/v/bin/python"], "df://127.0.0.1:5001")[-2:] == [
        "--address",
        "df://127.0.0.1:5001",
    ]
    assert apache.client_command(["/v/bin/python"], None)[-1] == "client"


def test_a_made_virtualenv_is_reused(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / f".ballista-{apache.VERSION}-stamp").touch()
    assert apache.ensure_venv(venv, base_python="/nonexistent/python") == venv / "bin" / "python"


def test_a_failed_virtualenv_says_which_command_failed(tmp_path: Path) -> None:
    with pytest.raises(apache.Unavailable, match=r"`-m venv --clear .*` failed: FileNotFoundError"):
        apache.ensure_venv(tmp_path / "venv", base_python=str(tmp_path / "no-python"))
    failing = tmp_path / "failing-python"
    failing.write_text("#!/bin/sh\necho 'Error: cannot make it' >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(apache.Unavailable, match=r"`-m venv --clear .*` failed: Error: cannot make it$"):
        apache.ensure_venv(tmp_path / "venv", base_python=str(failing))
    assert not (tmp_path / "venv" / f".ballista-{apache.VERSION}-stamp").exists()


def test_a_rust_panic_is_told_by_its_message() -> None:
    stderr = (
        "\nthread 'tokio-rt-worker' (9958) panicked at src/cluster.rs:192:67:\n"
        "called `Result::unwrap()` on an `Err` value: IoError(Os { code: 98, kind: AddrInUse })\n"
        "stack backtrace:\nnote: Some details are omitted, run with `RUST_BACKTRACE=full`\n"
    )
    assert apache.rust_panic(stderr) == (
        "src/cluster.rs:192:67: called `Result::unwrap()` on an `Err` value: "
        "IoError(Os { code: 98, kind: AddrInUse })"
    )
    assert apache.rust_panic("Traceback (most recent call last):\nValueError: x\n") is None


def test_a_busy_executor_grpc_port_is_named_before_anything_starts() -> None:
    """Ballista's executor always binds 50052: a second one would hang on a panicked thread."""
    with contextlib.ExitStack() as stack:
        if not apache.wait_for_port(apache.HOST, apache.EXECUTOR_GRPC_PORT, 0):
            listener = stack.enter_context(socket.socket())
            listener.bind((apache.HOST, apache.EXECUTOR_GRPC_PORT))
            listener.listen()
        cluster = apache.Cluster(["/nonexistent/python"])
        with pytest.raises(apache.Unavailable, match=r"port 50052, which Ballista's executor always binds"):
            cluster.start()
        assert cluster._proc is None  # nothing was started
        assert not cluster._dir.exists()


def test_free_ports_differ_and_wait_for_port_sees_a_listener() -> None:
    first, second = apache.free_ports(2)
    assert first != second
    with socket.socket() as listener:
        listener.bind((apache.HOST, 0))
        listener.listen()
        assert apache.wait_for_port(apache.HOST, listener.getsockname()[1], timeout_s=2)
    assert not apache.wait_for_port(apache.HOST, first, timeout_s=0.2)


def test_results_survive_the_trip_through_arrow_ipc(tmp_path: Path) -> None:
    table = pa.table({
        "s": pa.array(["a", None, "ccc"], pa.string_view()),
        "d": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")], pa.decimal128(15, 2)),
        "day": pa.array([dt.date(1998, 9, 2), dt.date(1970, 1, 1), None]),
        "f": pa.array([1.5, float("nan"), None]),
    })  # fmt: skip
    path = tmp_path / "r.arrow"
    apache.write_ipc(table, path)
    back = apache.read_ipc(path)
    path.unlink()  # read whole, not mapped: deleting the file leaves the table intact
    assert back.schema == table.schema
    assert back.column("s").to_pylist() == ["a", None, "ccc"]
    assert back.slice(0, 1).equals(table.slice(0, 1))


def test_the_client_protocol_answers_on_real_datafusion(tmp_path: Path) -> None:
    data = tpch_data(0.01, 4)
    ctx = SessionContext()
    replies: list[dict[str, object]] = []
    out = tmp_path / "q.arrow"
    sql = (QUERIES / "q06.sql").read_text()
    requests = [
        {"op": "register", "tables": {"lineitem": f"{data / 'lineitem'}/"}},
        {"op": "query", "sql": sql, "warmup": 1, "runs": 2, "out": str(out)},
        {"op": "query", "sql": "select nope from lineitem", "out": str(out)},
        {"op": "drop"},
    ]
    lines = [json.dumps(r) for r in requests]
    apache.serve(ctx, lines, replies.append)
    assert replies[0] == {"ok": True}
    assert replies[1]["ok"]
    assert len(replies[1]["seconds"]) == 2  # type: ignore[arg-type]
    assert replies[1]["rows"] == 1
    reference = SessionContext()
    reference.register_parquet("lineitem", f"{data / 'lineitem'}/")
    assert agrees(apache.read_ipc(out), reference.sql(sql).to_arrow_table(), sql, False, "q06")
    assert replies[2]["ok"] is False
    assert "nope" in str(replies[2]["error"])
    assert "\n" not in str(replies[2]["error"])
    assert replies[3] == {"ok": False, "error": "unknown op 'drop'"}


def test_the_cluster_process_says_why_when_the_wheel_does_not_load() -> None:
    """Our virtualenv has no `ballista`: the child answers in one line, nothing is left running."""
    cluster = apache.Cluster([sys.executable])
    with pytest.raises(
        apache.Unavailable, match="does not load: ModuleNotFoundError: No module named 'ballista'"
    ):
        cluster.start()
    assert cluster._proc is None  # stopped and reaped


@pytest.mark.slow
def test_the_client_process_runs_queries_and_reports_its_own_timings() -> None:
    """The client process end to end, on single-process DataFusion (no address), SF0.01."""
    data = tpch_data(0.01, 4)
    client = apache.Client([sys.executable], None)
    try:
        assert client.versions["datafusion"]
        client.register({table: f"{data / table}/" for table in TPCH_TABLES})
        reference = SessionContext()
        for table in TPCH_TABLES:
            reference.register_parquet(table, f"{data / table}/")
        for query in ("q01", "q18"):
            sql = (QUERIES / f"{query}.sql").read_text()
            seconds, got = client.timed(sql)
            assert seconds > 0
            assert agrees(got, reference.sql(sql).to_arrow_table(), sql, True, query)
        with pytest.raises(RuntimeError, match=r"apache ballista: .*nope"):
            client.run("select nope")
        assert client.run("select 1 as one").column("one").to_pylist() == [1]  # still answering
    finally:
        client.close()
    assert client._proc is None


@pytest.mark.slow
def test_the_harness_takes_timings_from_an_engine_that_measures_itself() -> None:
    """The Ballista engine's shape (a client process, its own timings) through run_engines."""
    data = tpch_data(0.01, 4)
    sqls = {q: (QUERIES / f"{q}.sql").read_text() for q in ("q03", "q13")}

    def client_engine() -> Engine:
        client = apache.Client([sys.executable], None)
        client.register({table: f"{data / table}/" for table in TPCH_TABLES})
        return Engine(client.run, client.close, timed=client.timed, by_position=True)

    outcomes = run_engines(
        [("datafusion", lambda: datafusion_engine(data)), ("client process", client_engine)], sqls, 2
    )
    assert outcomes["client process"].agree == {"q03": True, "q13": True}
    assert all(seconds > 0 for seconds in outcomes["client process"].seconds.values())


@pytest.mark.slow
def test_a_real_apache_ballista_cluster_agrees_with_datafusion() -> None:
    """The wheel, its virtualenv and (on glibc < 2.39) Debian 13's glibc, fetched once and cached.

    Both are third-party downloads (PyPI, deb.debian.org). Where deb.debian.org cannot be
    reached, or the machine is not x86_64, the test says so and skips; anything else that
    fails, fails (PyPI is what ``make test`` installs everything else from).
    """
    try:
        python = apache.prepare()
    except apache.Unavailable as exc:
        # Debian's mirror out of reach (name resolution, a proxy's refusal, a timeout), or a
        # machine the runtime is not set up for: say so; anything else fails the test.
        if "fetching Debian trixie's glibc from" in str(exc) or "no Debian glibc set up for" in str(exc):
            pytest.skip(f"Apache Ballista cannot run here: {exc}")
        raise
    data = tpch_data(0.01, 4)
    sqls = {q: (QUERIES / f"{q}.sql").read_text() for q in ("q01", "q05", "q18", "q21")}
    outcomes = run_engines(
        [
            ("datafusion", lambda: datafusion_engine(data)),
            ("apache ballista", lambda: ballista_apache_engine(data)),
        ],
        sqls,
        1,
    )
    ballista = outcomes["apache ballista"]
    assert not ballista.skipped
    assert ballista.agree == dict.fromkeys(sqls, True)
    assert ballista.note.startswith(f"ballista {apache.VERSION}, datafusion 54.")
    assert python[-1] == str(apache.venv_python(apache.VENV))

    cluster = apache.Cluster(python)
    cluster.start()
    try:
        client = apache.Client(python, cluster.address)
        try:
            with pytest.raises(RuntimeError, match=r"apache ballista: .*no_such_table"):
                client.run("select * from no_such_table")
            assert client.run("select 1 as one").column(0).to_pylist() == [1]  # still answering
        finally:
            client.close()
    finally:
        cluster.stop()
