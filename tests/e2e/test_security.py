"""Authentication, TLS and mutual TLS with real processes and real clients (ADBC, pyarrow.flight)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import pyarrow as pa
import pytest
from adbc_driver_flightsql import DatabaseOptions
from pyarrow import flight

import ballista_flight
from ballista_flight.security import issue_token
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, TPCH_TABLES

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Cannot disable autocommit")]

USER, PASSWORD, STATIC_TOKEN = "alice", "correct horse", "static-token-0123456789"


def _executor_uris(ctx: ballista_flight.Context) -> list[str]:
    body = next(iter(ctx.flight_client.do_action("list_executors"))).body.to_pybytes()
    return [e["uri"] for e in json.loads(body)]


@pytest.fixture(scope="module")
def auth_cluster(tpch_dir: Path) -> Iterator[StandaloneCluster]:
    with StandaloneCluster(
        executors=2, auth_users=f"{USER}:{PASSWORD}", auth_tokens=STATIC_TOKEN, log_level="warning"
    ) as cluster:
        with ballista_flight.connect(cluster.uri, username=USER, password=PASSWORD) as ctx:
            for table in TPCH_TABLES:
                ctx.register_parquet(table, f"{tpch_dir / table}/")
        yield cluster


def test_wrong_password_is_refused(auth_cluster: StandaloneCluster) -> None:
    with flight.FlightClient(auth_cluster.uri) as client:
        with pytest.raises(flight.FlightUnauthenticatedError, match="wrong user name or password"):
            client.authenticate_basic_token(USER, "wrong")
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token("mallory", PASSWORD)
    with (
        pytest.raises(adbc_driver_manager.Error),
        adbc.connect(auth_cluster.uri, db_kwargs={"username": USER, "password": "wrong"}) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT 1")


def test_missing_or_forged_token_is_refused_by_scheduler_and_executors(
    auth_cluster: StandaloneCluster,
) -> None:
    with ballista_flight.connect(auth_cluster.uri, username=USER, password=PASSWORD) as ctx:
        executors = _executor_uris(ctx)
    forged = issue_token(b"not the cluster secret", USER, 3600)
    for uri in [auth_cluster.uri, *executors]:
        with flight.FlightClient(uri) as client:
            with pytest.raises(flight.FlightUnauthenticatedError, match="authentication required"):
                list(client.list_actions())
            bad = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {forged}".encode())])
            with pytest.raises(flight.FlightUnauthenticatedError, match="invalid or expired"):
                list(client.list_actions(bad))
            good = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {STATIC_TOKEN}".encode())])
            assert list(client.list_actions(good))


def test_altered_ticket_is_refused_by_the_executor(auth_cluster: StandaloneCluster) -> None:
    with ballista_flight.connect(auth_cluster.uri, username=USER, password=PASSWORD) as ctx:
        info = ctx.flight_client.get_flight_info(
            flight.FlightDescriptor.for_command(b"SELECT n_regionkey, count(*) FROM nation GROUP BY 1")
        )
        endpoint = next(e for e in info.endpoints if e.locations)
        raw = bytearray(endpoint.ticket.ticket)
        raw[len(raw) // 2] ^= 0x01
        token = ctx._credentials.bearer()
        options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
        with flight.FlightClient(endpoint.locations[0]) as executor:
            with pytest.raises(flight.FlightError, match=r"signature|malformed") as failure:
                executor.do_get(flight.Ticket(bytes(raw)), options).read_all()
            assert "Traceback" not in str(failure.value)
            rows = executor.do_get(endpoint.ticket, options).read_all()  # the real one works
        assert rows.num_rows >= 0
        for other in info.endpoints:
            if other is not endpoint:
                ctx._fetch(other)


def test_adbc_with_credentials_runs_tpch_q3(auth_cluster: StandaloneCluster, reference: object) -> None:
    sql = (QUERIES_DIR / "q03.sql").read_text()
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    login = {"username": USER, "password": PASSWORD}
    with adbc.connect(auth_cluster.uri, db_kwargs=login) as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert_same_result(cur.fetch_arrow_table(), expected, ordered=True, context="q3 basic")
    static = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {STATIC_TOKEN}"}
    with adbc.connect(auth_cluster.uri, db_kwargs=static) as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert_same_result(cur.fetch_arrow_table(), expected, ordered=True, context="q3 static token")


def test_adbc_over_tls_and_plaintext_refused(tpch_dir: Path, reference: object) -> None:
    sql = "SELECT r_name, count(*) AS n FROM region JOIN nation ON r_regionkey = n_regionkey GROUP BY 1"
    with StandaloneCluster(executors=2, tls=True, log_level="warning") as cluster:
        assert cluster.uri.startswith("grpc+tls://")
        assert cluster.tls_files is not None
        ca = cluster.tls_files.ca.read_text()
        trust = {DatabaseOptions.TLS_ROOT_CERTS.value: ca}
        with adbc.connect(cluster.uri, db_kwargs=trust) as conn, conn.cursor() as cur:
            for table in ("region", "nation"):
                cur.execute(f"CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{tpch_dir / table}/'")
            cur.execute(sql)
            got = cur.fetch_arrow_table()
        assert_same_result(got, reference.sql(sql).to_arrow_table(), ordered=False)  # type: ignore[attr-defined]
        plaintext = cluster.uri.replace("grpc+tls://", "grpc://")
        with flight.FlightClient(plaintext) as client, pytest.raises(flight.FlightUnavailableError):
            client.get_flight_info(
                flight.FlightDescriptor.for_command(b"SELECT 1"), flight.FlightCallOptions(timeout=10)
            )
        with flight.FlightClient(cluster.uri) as untrusting, pytest.raises(flight.FlightUnavailableError):
            untrusting.get_flight_info(
                flight.FlightDescriptor.for_command(b"SELECT 1"), flight.FlightCallOptions(timeout=10)
            )


def test_mutual_tls_needs_a_client_certificate(tpch_dir: Path) -> None:
    with StandaloneCluster(executors=1, tls_client_auth=True, log_level="warning") as cluster:
        files = cluster.tls_files
        assert files is not None
        options = flight.FlightCallOptions(timeout=10)
        anonymous = flight.FlightClient(cluster.uri, tls_root_certs=files.ca.read_bytes())
        with anonymous, pytest.raises(flight.FlightUnavailableError):
            anonymous.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"), options)
        with ballista_flight.connect(
            cluster.uri, tls_root_certs=files.ca, cert_chain=files.client_cert, private_key=files.client_key
        ) as ctx:
            ctx.register_parquet("nation", f"{tpch_dir / 'nation'}/")
            table = ctx.sql("SELECT n_regionkey, count(*) AS n FROM nation GROUP BY 1").to_arrow()
        assert sorted(table.column("n").to_pylist()) == [5, 5, 5, 5, 5]
        assert isinstance(table, pa.Table)
