"""Hostile input: random tickets, random and oversized SQL. The servers answer errors and stay up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyarrow import flight

from ballista_flight.proto import ballista_flight_pb2 as pb
from tests.e2e.cluster_utils import executors
from tests.e2e.test_bad_input import assert_healthy

if TYPE_CHECKING:
    from collections.abc import Callable

    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _refused(client: flight.FlightClient, ticket: bytes) -> None:
    with pytest.raises(flight.FlightError) as info:
        client.do_get(flight.Ticket(ticket), flight.FlightCallOptions(timeout=10)).read_all()
    assert "Traceback" not in str(info.value)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_tickets_are_refused(memory_cluster: StandaloneCluster, raw: bytes) -> None:
    with flight.FlightClient(memory_cluster.uri) as scheduler:
        _refused(scheduler, raw)
    with flight.FlightClient(executors(memory_cluster.uri)[0]["uri"]) as executor:
        _refused(executor, raw)


@FUZZ
@given(st.binary(max_size=512), st.binary(max_size=64))
def test_well_formed_envelopes_with_bad_signatures_are_refused(
    memory_cluster: StandaloneCluster, payload: bytes, signature: bytes
) -> None:
    envelope = pb.SignedTicket(payload=payload, signature=signature).SerializeToString()
    with flight.FlightClient(executors(memory_cluster.uri)[0]["uri"]) as executor:
        _refused(executor, envelope)


SQL_WORDS = ["SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "JOIN", "ON", "nation", "region", "n_name",
             "n_regionkey", "(", ")", ",", "*", "1", "'x'", "=", "<", "AND", "OR", "NOT", "NULL", "LIMIT",
             "UNION", "count(*)", "sum(", "CAST(", "AS", "INT", ";", "--", "/*", "\u00e9", "\x00"]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(SQL_WORDS), max_size=25))
def test_random_sql_gets_an_answer_or_an_error(
    memory_cluster: StandaloneCluster, client: ballista_flight.Context, words: list[str]
) -> None:
    sql = " ".join(words)
    with flight.FlightClient(memory_cluster.uri) as plain:
        try:
            info = plain.get_flight_info(
                flight.FlightDescriptor.for_command(sql.encode()), flight.FlightCallOptions(timeout=60)
            )
        except flight.FlightError as exc:
            assert "Traceback" not in str(exc)
            return
        for endpoint in info.endpoints:
            where = flight.FlightClient(endpoint.locations[0]) if endpoint.locations else plain
            try:
                where.do_get(endpoint.ticket, flight.FlightCallOptions(timeout=60)).read_all()
            except flight.FlightError as exc:
                assert "Traceback" not in str(exc)


@pytest.mark.parametrize(
    ("label", "sql"),
    [
        ("huge text", "SELECT 1 AS x -- " + "y" * (2 << 20)),
        ("deep nesting", "SELECT " + "(" * 5000 + "1" + ")" * 5000),
        ("long expression", "SELECT " + " + ".join(["1"] * 20000)),
        ("long OR chain", "SELECT count(*) AS n FROM nation WHERE " + " OR ".join(f"n_nationkey = {i}" for i in range(30000))),
        ("giant IN list", "SELECT count(*) AS n FROM nation WHERE n_nationkey IN (" + ", ".join(map(str, range(100000))) + ")"),
    ],
)  # fmt: skip
def test_oversized_input_is_an_error_or_an_answer_not_a_crash(
    client: ballista_flight.Context, label: str, sql: str
) -> None:
    try:
        client.sql(sql).to_arrow()
    except flight.FlightError as exc:
        assert "Traceback" not in str(exc), label
    assert_healthy(client)


ROOT = Path(__file__).resolve().parent.parent.parent
# What a server must never reveal: a Python traceback, or where its own code lives.
LEAKS = ["Traceback", 'File "', str(ROOT / "src"), "site-packages", ".venv", "ballista_flight/"]


def _leaks(label: str, exc: BaseException) -> list[str]:
    text = str(exc)
    return [f"{label}: reveals {leak!r}: {text[:300]}" for leak in LEAKS if leak in text]


def _calls(scheduler: str, executor: str) -> list[tuple[str, str, Callable[[flight.FlightClient], object]]]:
    """(label, server, call) for bad input to every RPC both servers answer."""
    sql = flight.FlightDescriptor.for_command
    calls: list[tuple[str, str, Callable[[flight.FlightClient], object]]] = []
    for text in [
        b"selec 1", b"select * from nowhere", b"\xff\xfe", b"", b"select cast('x' as int)",
        b"select 1/0", b"create external table t stored as parquet location '/nonexistent-dir/'",
        b"select * from nation where n_name = ", b"copy (select 1) to '/proc/nope/x.csv'",
        b"explain analyze select 1", b"set datafusion.execution.target_partitions = 'x'",
        b"select " + b"(" * 3000 + b"1" + b")" * 3000, b"drop table nowhere",
    ]:  # fmt: skip
        calls.append((f"GetFlightInfo {text[:40]!r}", scheduler, lambda c, t=text: c.get_flight_info(sql(t))))
        calls.append((f"GetSchema {text[:40]!r}", scheduler, lambda c, t=text: c.get_schema(sql(t))))
    calls.append(
        ("GetFlightInfo path", scheduler, lambda c: c.get_flight_info(flight.FlightDescriptor.for_path("x")))
    )
    for server in (scheduler, executor):
        for raw in [
            b"",
            b"\x00" * 64,
            b"garbage ticket",
            pb.SignedTicket(payload=b"\x08\x01").SerializeToString(),
        ]:
            calls.append(
                (f"DoGet {raw[:20]!r}", server, lambda c, r=raw: c.do_get(flight.Ticket(r)).read_all())
            )
        for action, body in [
            ("no_such_action", b""), ("release_job", b"\xff\xff\xff"), ("register_executor", b"\xff\x00garbage"),
            ("heartbeat", b"\x0a\xff"), ("result_done", b"\x0a\x05abc"), ("job_status", b"no-such-job"),
            ("cancel_job", b"\xff\xfe"), ("job_profile", b""), ("deregister_executor", b"\xff"),
        ]:  # fmt: skip
            calls.append(
                (f"DoAction {action}", server, lambda c, a=action, b=body: list(c.do_action((a, b))))
            )
        calls.append(("ListFlights", server, lambda c: list(c.list_flights())))
        calls.append(("GetFlightInfo/GetSchema", server, lambda c: c.get_flight_info(sql(b"select 1"))))
        calls.append(("GetSchema", server, lambda c: c.get_schema(sql(b"select 1"))))
        calls.append(("DoPut", server, _do_put))
        calls.append(("DoExchange", server, lambda c: c.do_exchange(sql(b"x"))[1].read_all()))
    return calls


def _do_put(client: flight.FlightClient) -> None:
    table = pa.table({"x": [1, 2]})
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(b"t"), table.schema)
    writer.write_table(table)
    writer.close()


def test_no_server_reveals_a_traceback_or_its_own_paths(
    memory_cluster: StandaloneCluster, client: ballista_flight.Context
) -> None:
    executor = executors(memory_cluster.uri)[0]["uri"]
    refused, leaks = 0, []
    for label, uri, call in _calls(memory_cluster.uri, executor):
        with flight.FlightClient(uri) as plain:
            try:
                call(plain)
            except flight.FlightError as exc:
                refused += 1
                leaks += _leaks(label, exc)
            except Exception as exc:  # a client-side decode error is fine; it must not leak either
                leaks += _leaks(label, exc)
    assert not leaks, "\n".join(leaks)
    assert refused > 20  # most of them are refused; the rest answered (e.g. GetSchema of DDL)
    assert_healthy(client)
