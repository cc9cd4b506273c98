"""Bad input gets a one-line FlightError, and the cluster answers the next query correctly."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.standalone import StandaloneCluster
from tests.conftest import register_tpch
from tests.e2e.cluster_utils import executors

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

GOOD = "select n_regionkey, count(*) as n from nation group by n_regionkey order by n_regionkey"


def assert_healthy(ctx: ballista_flight.Context) -> None:
    got = ctx.sql(GOOD).to_arrow()
    assert got.column("n").to_pylist() == [5, 5, 5, 5, 5]


def assert_clean_message(exc: BaseException, *needles: str) -> None:
    text = str(exc)
    assert "Traceback" not in text
    first = text.split(". Detail:", 1)[0]
    assert "\n" not in first.strip(), first
    for needle in needles:
        assert needle.lower() in first.lower(), first


@pytest.mark.parametrize(
    ("sql", "needles"),
    [
        ("selec 1", ["SQL error"]),
        ("select * from no_such_table", ["no_such_table", "not found"]),
        ("select no_such_column from nation", ["no_such_column"]),
        ("select n_name + 1 from nation", ["coerce"]),
        ("", ["empty"]),
        ("explain analyze drop table nation", ["queries only"]),
        ("select " + " + ".join(["1"] * 5000), ["too complex", "limit"]),
    ],
)
def test_bad_sql(client: ballista_flight.Context, sql: str, needles: list[str]) -> None:
    with pytest.raises(flight.FlightError) as info:
        client.sql(sql).to_arrow()
    assert_clean_message(info.value, *needles)
    assert_healthy(client)


def test_error_while_running_on_executors(client: ballista_flight.Context) -> None:
    # Planning succeeds; the cast fails inside a task on an executor.
    with pytest.raises(flight.FlightError) as info:
        client.sql("select cast(n_name as int) from nation").to_arrow()
    assert_clean_message(info.value, "cast")
    assert_healthy(client)


def test_non_utf8_and_path_descriptors(
    memory_cluster: StandaloneCluster, client: ballista_flight.Context
) -> None:
    with flight.FlightClient(memory_cluster.uri) as plain:
        with pytest.raises(flight.FlightError) as info:
            plain.get_flight_info(flight.FlightDescriptor.for_command(b"\xff\xfe select"))
        assert_clean_message(info.value, "UTF-8")
        with pytest.raises(flight.FlightError) as info:
            plain.get_flight_info(flight.FlightDescriptor.for_path("nation"))
        assert_clean_message(info.value, "command descriptor")
    assert_healthy(client)


def _endpoint(uri: str, sql: str) -> flight.FlightEndpoint:
    with flight.FlightClient(uri) as plain:
        info = plain.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
    return info.endpoints[0]


def test_malformed_forged_and_finished_tickets(
    memory_cluster: StandaloneCluster, client: ballista_flight.Context
) -> None:
    executor_uri = executors(memory_cluster.uri)[0]["uri"]
    for uri in (memory_cluster.uri, executor_uri):
        with flight.FlightClient(uri) as plain:
            with pytest.raises(flight.FlightError) as info:
                plain.do_get(flight.Ticket(b"definitely not a ticket \xff")).read_all()
            assert_clean_message(info.value, "ticket")
            forged = pb.SignedTicket(
                payload=pb.Ticket(fetch=pb.FetchTicket(job_id="x")).SerializeToString(),
                signature=b"\x00" * 32,
            ).SerializeToString()
            with pytest.raises(flight.FlightError) as info:
                plain.do_get(flight.Ticket(forged)).read_all()
            assert_clean_message(info.value, "signature")
    # A real endpoint works once; after the job finished its ticket is refused.
    endpoint = _endpoint(memory_cluster.uri, GOOD)
    location = endpoint.locations[0] if endpoint.locations else memory_cluster.uri
    with flight.FlightClient(location) as where:
        assert where.do_get(endpoint.ticket).read_all().num_rows == 5
        deadline = time.monotonic() + 10
        while True:
            try:
                where.do_get(endpoint.ticket).read_all()
            except flight.FlightError as exc:
                assert_clean_message(exc, "finished")
                break
            assert time.monotonic() < deadline, "ticket of a finished job still served"
            time.sleep(0.1)
    assert_healthy(client)


def test_executor_of_another_datafusion_version_is_refused(memory_cluster: StandaloneCluster) -> None:
    reg = pb.ExecutorRegistration(
        executor_id="intruder", uri="grpc://127.0.0.1:1", slots=1, datafusion_version="1.0.0"
    )
    with flight.FlightClient(memory_cluster.uri) as plain, pytest.raises(flight.FlightError) as info:
        list(plain.do_action(("register_executor", reg.SerializeToString())))
    assert_clean_message(info.value, "datafusion 1.0.0", "same version")
    assert all(e["executor_id"] != "intruder" for e in executors(memory_cluster.uri))


def test_unreachable_executor(tpch_dir: Path) -> None:
    with (
        StandaloneCluster(executors=2, log_level="error") as cluster,
        ballista_flight.connect(cluster.uri) as ctx,
    ):
        register_tpch(ctx, tpch_dir)
        assert_healthy(ctx)
        victim = cluster.executors[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        # The scheduler still lists the dead executor (its heartbeats have not timed out):
        # tasks sent there fail to connect and are retried on the survivor.
        assert len(executors(cluster.uri)) == 2
        assert_healthy(ctx)
        assert len(executors(cluster.uri)) == 1
