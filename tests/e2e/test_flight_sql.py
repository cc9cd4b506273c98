"""Flight SQL with real third-party drivers: ADBC (Go core), flightsql-dbapi, raw pyarrow.flight."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import pyarrow as pa
import pyarrow.dataset
import pytest
from google.protobuf import any_pb2
from pyarrow import flight

from ballista_flight.proto import flight_actions_pb2 as actions_pb
from ballista_flight.proto import flight_sql_pb2 as sql_pb
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, TPCH_TABLES
from tests.e2e.cluster_utils import executor_stats, wait_until_released

# ADBC's DB-API layer warns that autocommit cannot be turned off: we have no transactions.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Cannot disable autocommit")]

QUERIES = sorted(QUERIES_DIR.glob("q*.sql"))


def packed(message: object) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(message)  # type: ignore[arg-type]
    return wrapper.SerializeToString()


@pytest.fixture(scope="module")
def sql_cluster(tpch_dir: Path) -> Iterator[StandaloneCluster]:
    """A cluster of its own, its tables created through ADBC (DDL via cursor.execute)."""
    with StandaloneCluster(executors=2, shuffle="memory", log_level="warning") as cluster:
        with adbc.connect(cluster.uri) as conn, conn.cursor() as cur:
            for table in TPCH_TABLES:
                cur.execute(f"CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{tpch_dir / table}/'")
        yield cluster


@pytest.fixture
def conn(sql_cluster: StandaloneCluster) -> Iterator[adbc.Connection]:
    with adbc.connect(sql_cluster.uri) as connection:
        yield connection


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_adbc_tpch_matches_datafusion(conn: adbc.Connection, reference: object, query: Path) -> None:
    sql = query.read_text()
    with conn.cursor() as cur:
        cur.execute(sql)
        got = cur.fetch_arrow_table()
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(got, expected, ordered="order by" in sql.lower(), context=query.stem)


def test_adbc_fetch_df(conn: adbc.Connection, reference: object) -> None:
    sql = "SELECT l_returnflag, l_linestatus, count(*) AS n FROM lineitem GROUP BY 1, 2 ORDER BY 1, 2"
    with conn.cursor() as cur:
        cur.execute(sql)
        frame = cur.fetch_df()
    expected = reference.sql(sql).to_pandas()  # type: ignore[attr-defined]
    assert frame["n"].tolist() == expected["n"].tolist()
    assert frame["l_returnflag"].tolist() == expected["l_returnflag"].tolist()


def test_adbc_prepared_statement_with_parameters(conn: adbc.Connection, reference: object) -> None:
    with conn.cursor() as cur:
        for quantity, flag in [(30, "R"), (45, "N")]:
            cur.execute(
                "SELECT count(*) AS n, sum(l_extendedprice) AS s FROM lineitem "
                "WHERE l_quantity > ? AND l_returnflag = ?",
                parameters=(quantity, flag),
            )
            got = cur.fetch_arrow_table()
            expected = reference.sql(  # type: ignore[attr-defined]
                "SELECT count(*) AS n, sum(l_extendedprice) AS s FROM lineitem "
                f"WHERE l_quantity > {quantity} AND l_returnflag = '{flag}'"
            ).to_arrow_table()
            assert_same_result(got, expected, ordered=True, context=f"{quantity}/{flag}")


def test_adbc_get_objects_lists_registered_tables(conn: adbc.Connection) -> None:
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    tables = {
        (catalog["catalog_name"], schema["db_schema_name"], table["table_name"])
        for catalog in objects
        for schema in catalog["catalog_db_schemas"]
        for table in schema["db_schema_tables"]
    }
    for name in TPCH_TABLES:
        assert ("datafusion", "public", name) in tables
    filtered = conn.adbc_get_objects(depth="tables", table_name_filter="line%").read_all().to_pylist()
    names = [
        t["table_name"] for c in filtered for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]
    ]
    assert names == ["lineitem"]


def test_adbc_get_table_schema(conn: adbc.Connection, reference: object) -> None:
    for table in ("nation", "lineitem"):
        schema = conn.adbc_get_table_schema(table)
        expected = reference.table(table).schema()  # type: ignore[attr-defined]
        assert schema.names == expected.names
        assert schema.types == expected.types


def test_adbc_unknown_table_is_a_clear_error(conn: adbc.Connection) -> None:
    with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error) as failure:
        cur.execute("SELECT * FROM no_such_table")
    assert "no_such_table" in str(failure.value)
    assert "Traceback" not in str(failure.value)
    with conn.cursor() as cur:  # the connection and the cluster are fine
        cur.execute("SELECT count(*) FROM nation")
        assert cur.fetchone() == (25,)


def test_adbc_info_names_the_server(conn: adbc.Connection) -> None:
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "ballista-flight"
    assert "DataFusion" in info["vendor_version"]


# -- raw Flight SQL with pyarrow.flight -----------------------------------------------
def _fetch(client: flight.FlightClient, info: flight.FlightInfo) -> pa.Table:
    tables = []
    for endpoint in info.endpoints:
        if endpoint.locations:
            with flight.FlightClient(endpoint.locations[0]) as executor:
                tables.append(executor.do_get(endpoint.ticket).read_all())
        else:
            tables.append(client.do_get(endpoint.ticket).read_all())
    return pa.concat_tables(tables) if tables else info.schema.empty_table()


def test_sql_info_table_types_and_primary_keys(sql_cluster: StandaloneCluster) -> None:
    with flight.FlightClient(sql_cluster.uri) as client:
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(packed(sql_pb.CommandGetSqlInfo(info=[0, 3, 8, 9])))
        )
        table = _fetch(client, info)
        values = dict(
            zip(table.column("info_name").to_pylist(), table.column("value").to_pylist(), strict=True)
        )
        assert values == {0: "ballista-flight", 3: False, 8: 0, 9: True}
        types = _fetch(
            client,
            client.get_flight_info(
                flight.FlightDescriptor.for_command(packed(sql_pb.CommandGetTableTypes()))
            ),
        )
        assert "TABLE" in types.column("table_type").to_pylist()
        keys_cmd = flight.FlightDescriptor.for_command(packed(sql_pb.CommandGetPrimaryKeys(table="nation")))
        keys = _fetch(client, client.get_flight_info(keys_cmd))
        assert keys.num_rows == 0
        assert client.get_schema(keys_cmd).schema == keys.schema


def test_statement_query_through_the_scheduler_uses_ticket_statement_query(
    reference: object, tpch_dir: Path
) -> None:
    with (
        StandaloneCluster(
            executors=1, log_level="warning", extra_scheduler_args=["--proxy-results"]
        ) as cluster,
        flight.FlightClient(cluster.uri) as client,
    ):
        ddl = sql_pb.CommandStatementUpdate(
            query=f"CREATE EXTERNAL TABLE nation STORED AS PARQUET LOCATION '{tpch_dir / 'nation'}/'"
        )
        writer, results = client.do_put(flight.FlightDescriptor.for_command(packed(ddl)), pa.schema([]))
        writer.done_writing()
        update = sql_pb.DoPutUpdateResult()
        update.ParseFromString(results.read().to_pybytes())
        writer.close()
        assert update.record_count == 0
        sql = "SELECT n_regionkey, count(*) AS n FROM nation GROUP BY 1 ORDER BY 1"
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(packed(sql_pb.CommandStatementQuery(query=sql)))
        )
        for endpoint in info.endpoints:
            assert not endpoint.locations
            wrapper = any_pb2.Any()
            wrapper.ParseFromString(endpoint.ticket.ticket)
            assert wrapper.Is(sql_pb.TicketStatementQuery.DESCRIPTOR)
        got = _fetch(client, info)
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(got, expected, ordered=True)


def test_a_flight_sql_query_can_carry_the_job_id_its_client_chose(sql_cluster: StandaloneCluster) -> None:
    job_id = "flightsql" + "0" * 7
    options = flight.FlightCallOptions(headers=[(b"x-ballista-job-id", job_id.encode())])
    command = packed(sql_pb.CommandStatementQuery(query="SELECT count(*) AS n FROM region"))
    with flight.FlightClient(sql_cluster.uri) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
        assert info.app_metadata.decode() == job_id
        assert _fetch(client, info).column("n").to_pylist() == [5]


def test_unsupported_calls_answer_unimplemented_in_one_line(sql_cluster: StandaloneCluster) -> None:
    with flight.FlightClient(sql_cluster.uri) as client:
        for action in ("BeginTransaction", "CreatePreparedSubstraitPlan", "no_such_action"):
            with pytest.raises(pa.ArrowNotImplementedError) as failure:
                list(client.do_action((action, b"")))
            assert "Traceback" not in str(failure.value)
            assert "File " not in str(failure.value)
        unknown = any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandGetXdbcTypeInfo")
        with pytest.raises(pa.ArrowNotImplementedError) as failure:
            client.get_flight_info(flight.FlightDescriptor.for_command(unknown.SerializeToString()))
        assert "CommandGetXdbcTypeInfo" in str(failure.value)
        assert "Traceback" not in str(failure.value)
        for bad in (b"SELECT * FROM no_such_table", packed(sql_pb.CommandStatementQuery(query="SELEC"))):
            with pytest.raises(pa.ArrowException) as failure:
                client.get_schema(flight.FlightDescriptor.for_command(bad))
            assert "Traceback" not in str(failure.value)
            assert "File " not in str(failure.value)
        closed = next(iter(client.do_action(("CloseSession", b"")))).body.to_pybytes()
        result = actions_pb.CloseSessionResult()
        result.ParseFromString(closed)
        assert result.status == actions_pb.CloseSessionResult.CLOSED


def test_cancel_flight_info_frees_the_query(sql_cluster: StandaloneCluster) -> None:
    sql = "SELECT o_orderpriority, count(*) FROM orders JOIN lineitem ON o_orderkey = l_orderkey GROUP BY 1"
    wait_until_released(sql_cluster.uri)
    with flight.FlightClient(sql_cluster.uri) as client:
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(packed(sql_pb.CommandStatementQuery(query=sql)))
        )
        held = [s for s in executor_stats(sql_cluster.uri) if s["jobs"]]
        assert held, "the map stages' shuffle data should be held until the result is read"
        request = actions_pb.CancelFlightInfoRequest(info=info.serialize())
        body = next(iter(client.do_action(("CancelFlightInfo", request.SerializeToString())))).body
        result = actions_pb.CancelFlightInfoResult()
        result.ParseFromString(body.to_pybytes())
        assert result.status == actions_pb.CANCEL_STATUS_CANCELLED
        stats = wait_until_released(sql_cluster.uri)
        assert all(not s["jobs"] and not s["memory_bytes"] for s in stats)
        endpoint = info.endpoints[0]
        where = flight.FlightClient(endpoint.locations[0]) if endpoint.locations else client
        with pytest.raises(flight.FlightError, match=r"cancel|finished|unknown"):
            where.do_get(endpoint.ticket).read_all()
        job_id = info.app_metadata.decode()
        status = json.loads(next(iter(client.do_action(("job_status", job_id.encode())))).body.to_pybytes())
        assert status["state"] == "JOB_CANCELLED"
        again = next(iter(client.do_action(("CancelFlightInfo", request.SerializeToString())))).body
        result.ParseFromString(again.to_pybytes())
        assert result.status == actions_pb.CANCEL_STATUS_NOT_CANCELLABLE


# -- flightsql-dbapi, in a subprocess (its generated protos clash with any other) ----------
def test_flightsql_dbapi_client(sql_cluster: StandaloneCluster, reference: object) -> None:
    port = sql_cluster.uri.rsplit(":", 1)[1]
    sql = "SELECT r_name, count(*) AS n FROM region JOIN nation ON r_regionkey = n_regionkey GROUP BY r_name"
    script = textwrap.dedent(
        f"""
        import json
        from flightsql import FlightSQLClient
        client = FlightSQLClient(host="127.0.0.1", port={port}, insecure=True)
        info = client.execute({sql!r})
        reader = client.do_get(info.endpoints[0].ticket)
        tables = [reader.read_all()]
        for endpoint in info.endpoints[1:]:
            tables.append(client.do_get(endpoint.ticket).read_all())
        import pyarrow as pa
        table = pa.concat_tables(tables)
        print(json.dumps(sorted(map(list, zip(*table.to_pydict().values())))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    expected = reference.sql(sql).to_arrow_table().to_pydict()  # type: ignore[attr-defined]
    assert got == sorted(map(list, zip(*expected.values(), strict=True)))


def test_copy_through_statement_update_reports_rows_written(
    sql_cluster: StandaloneCluster, tmp_path: Path
) -> None:
    target = tmp_path / "regions"
    update = sql_pb.CommandStatementUpdate(
        query=f"COPY (SELECT * FROM nation WHERE n_regionkey < 3) TO '{target}/' STORED AS PARQUET"
    )
    with flight.FlightClient(sql_cluster.uri) as client:
        writer, results = client.do_put(flight.FlightDescriptor.for_command(packed(update)), pa.schema([]))
        writer.done_writing()
        answer = sql_pb.DoPutUpdateResult()
        answer.ParseFromString(results.read().to_pybytes())
        writer.close()
    written = pa.dataset.dataset(str(target), format="parquet").to_table()
    assert answer.record_count == written.num_rows == 15
