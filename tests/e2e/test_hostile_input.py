"""Hostile input: random tickets, random and oversized SQL. The servers answer errors and stay up."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyarrow import flight

from ballista_flight.proto import ballista_flight_pb2 as pb
from tests.e2e.cluster_utils import executors
from tests.e2e.test_bad_input import assert_healthy

if TYPE_CHECKING:
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
