"""The DataFrame API: plans built on the client, sent as Substrait, run distributed.

Each DataFrame is built twice with the same DataFusion expressions: once through
ballista-flight (planned by the client, run by the cluster) and once on a plain
single-process ``datafusion.SessionContext``; the rows must match.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext, col, lit, substrait
from datafusion import functions as f

import ballista_flight
from tests.compare import assert_same_result

if TYPE_CHECKING:
    from pathlib import Path

    from ballista_flight.standalone import StandaloneCluster

pytestmark = pytest.mark.slow


def _trips(directory: Path) -> Path:
    """Two CSV files of taxi trips (the seed's example data, made up here)."""
    rng = random.Random(7)
    directory.mkdir()
    for part in range(2):
        rows = [
            {
                "passenger_count": rng.randint(1, 6),
                "fare_amount": round(rng.uniform(2.5, 80.0), 2),
                "trip_distance": round(rng.uniform(0.1, 30.0), 1),
                "vendor_id": rng.randint(1, 3),
            }
            for _ in range(500)
        ]
        pacsv.write_csv(pa.Table.from_pylist(rows), directory / f"trips-{part}.csv")
    return directory


def _vendors(directory: Path) -> Path:
    path = directory / "vendors.csv"
    pacsv.write_csv(pa.table({"id": [1, 2, 3], "vendor": ["CMT", "VTS", "DDS"]}), path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dataframe")
    return _trips(root / "trips"), _vendors(root)


@pytest.fixture(scope="module")
def ctx(memory_cluster: StandaloneCluster) -> ballista_flight.Context:
    return ballista_flight.connect(memory_cluster.uri, timeout=120)


def test_the_seed_example_matches_datafusion(ctx: ballista_flight.Context, data: tuple[Path, Path]) -> None:
    trips, _ = data
    aggs = [f.min(col("fare_amount")), f.max(col("fare_amount"))]
    got = ctx.csv(f"{trips}/").aggregate([col("passenger_count")], aggs).to_arrow()
    local = SessionContext()
    expected = local.read_csv(f"{trips}/").aggregate([col("passenger_count")], aggs).to_arrow_table()
    assert got.num_rows == 6
    # DataFusion names an anonymous read "?table?"; the cluster's read has a table name.
    assert_same_result(got, expected, ordered=False, check_names=False)


def test_join_aggregate_sort_matches_datafusion(
    ctx: ballista_flight.Context, data: tuple[Path, Path]
) -> None:
    trips, vendors = data
    ctx.register_csv("df_trips", f"{trips}/")
    ctx.register_csv("df_vendors", str(vendors))
    local = SessionContext()
    local.register_csv("df_trips", f"{trips}/")
    local.register_csv("df_vendors", str(vendors))

    def build(t: Any, v: Any) -> Any:
        return (
            t.filter(col("trip_distance") > lit(1.0))
            .with_column("per_mile", col("fare_amount") / col("trip_distance"))
            .join(v, left_on="vendor_id", right_on="id")
            .aggregate(
                [col("vendor"), col("passenger_count")],
                [f.count(col("fare_amount")).alias("trips"), f.sum(col("per_mile")).alias("per_mile")],
            )
            .select(col("vendor"), col("passenger_count"), col("trips"), col("per_mile"))
            .sort(col("vendor").sort(), col("passenger_count").sort(ascending=False))
            .limit(10)
        )

    df = build(ctx.table("df_trips"), ctx.table("df_vendors"))
    got = df.to_arrow()
    expected = build(local.table("df_trips"), local.table("df_vendors")).to_arrow_table()
    assert got.num_rows == 10
    assert_same_result(got, expected, ordered=True)
    plan = df.explain()
    assert "Stage 1" in plan, plan
    assert "ShuffleReadExec" in plan, plan
    assert df.to_pandas().shape == (10, 4)


def test_parquet_and_bad_plans(ctx: ballista_flight.Context, data: tuple[Path, Path], tmp_path: Path) -> None:
    trips, _ = data
    table = pacsv.read_csv(trips / "trips-0.csv")
    pq.write_table(table, tmp_path / "t.parquet")
    got = ctx.read_parquet(str(tmp_path / "t.parquet")).filter(col("vendor_id") == lit(2)).to_arrow()
    assert got.num_rows == sum(1 for v in table.column("vendor_id").to_pylist() if v == 2)
    assert not any(name.startswith("_bf_read_") for name in ctx.tables())
    with pytest.raises(Exception, match="no_such_column"):
        ctx.read_parquet(str(tmp_path / "t.parquet")).select(col("no_such_column")).to_arrow()


def test_dataframe_write_csv(ctx: ballista_flight.Context, data: tuple[Path, Path], tmp_path: Path) -> None:
    trips, _ = data
    df = (
        ctx.csv(f"{trips}/")
        .filter(col("passenger_count") < lit(3))
        .select(col("passenger_count"), col("fare_amount"))
    )
    written = df.write_csv(str(tmp_path / "out"), partition_by=["passenger_count"])
    assert written == df.to_arrow().num_rows
    back = SessionContext()
    back.sql(
        "CREATE EXTERNAL TABLE back (fare_amount DOUBLE, passenger_count BIGINT) STORED AS CSV "
        f"PARTITIONED BY (passenger_count) LOCATION '{tmp_path}/out/' OPTIONS ('format.has_header' 'true')"
    )
    got = back.sql("SELECT passenger_count, fare_amount FROM back").to_arrow_table()
    assert_same_result(got, df.to_arrow().cast(got.schema), ordered=False)
    with pytest.raises(Exception, match="formats are"):
        df._write(str(tmp_path / "x"), "orc", None, None)


def test_flight_sql_substrait_plan_runs_distributed(
    ctx: ballista_flight.Context, memory_cluster: StandaloneCluster, data: tuple[Path, Path]
) -> None:
    from pyarrow import flight

    from ballista_flight.proto import flight_sql_pb2 as sql_pb
    from ballista_flight.scheduler.flightsql import pack

    trips, _ = data
    ctx.register_csv("df_fsql_trips", f"{trips}/")
    local = SessionContext()
    local.register_csv("df_fsql_trips", f"{trips}/")
    df = local.table("df_fsql_trips").aggregate([col("vendor_id")], [f.count(col("fare_amount")).alias("n")])
    plan = substrait.Producer.to_substrait_plan(df.logical_plan(), local).encode()
    command = sql_pb.CommandStatementSubstraitPlan(plan=sql_pb.SubstraitPlan(plan=plan))
    with flight.FlightClient(memory_cluster.uri) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(pack(command)))
        parts = []
        for endpoint in info.endpoints:
            where = flight.FlightClient(endpoint.locations[0]) if endpoint.locations else client
            parts.append(where.do_get(endpoint.ticket).read_all())
    assert_same_result(pa.concat_tables(parts), df.to_arrow_table(), ordered=False)
