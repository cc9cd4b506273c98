"""A real cluster's behaviour: work is spread, shuffles cross executors, data is cleaned up."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.config import SchedulerConfig
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, register_tpch
from tests.e2e.cluster_utils import executor_stats, wait_until_released

if TYPE_CHECKING:
    from pathlib import Path

    from datafusion import SessionContext

pytestmark = pytest.mark.slow

Q3 = (QUERIES_DIR / "q03.sql").read_text()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_work_is_distributed_and_shuffle_crosses_executors(
    memory_cluster: StandaloneCluster, client: ballista_flight.Context, reference: SessionContext
) -> None:
    before = executor_stats(memory_cluster.uri)
    got = client.sql(Q3).to_arrow()
    assert_same_result(got, reference.sql(Q3).to_arrow_table(), ordered=True)
    after = wait_until_released(memory_cluster.uri)
    assert len(after) == 2
    for b, a in zip(before, after, strict=True):
        assert a["tasks_run"] > b["tasks_run"], f"executor {a['executor_id']} ran no task of the query"
        assert a["fetches_served"] > b["fetches_served"], f"nobody fetched from {a['executor_id']}"
    moved = sum(
        a["bytes_fetched_remote"] - b["bytes_fetched_remote"] for b, a in zip(before, after, strict=True)
    )
    assert moved > 0, "no shuffle bytes crossed executors over Flight"


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_shuffle_data_is_gone_after_the_result_is_fetched(
    mode: str, request: pytest.FixtureRequest, tpch_dir: Path
) -> None:
    cluster: StandaloneCluster = request.getfixturevalue(f"{mode}_cluster")
    with ballista_flight.connect(cluster.uri) as ctx:
        register_tpch(ctx, tpch_dir)
        assert ctx.sql(Q3).to_arrow().num_rows == 10
    stats = wait_until_released(cluster.uri)
    for s in stats:
        assert s["jobs"] == [], s
        assert s["memory_bytes"] == 0, s
        assert s["disk_bytes"] == 0, s
    assert _files(cluster.work_dir) == []


def test_small_memory_budget_spills_and_completes(tpch_dir: Path, reference: SessionContext) -> None:
    sql = (QUERIES_DIR / "q18.sql").read_text()
    with StandaloneCluster(
        executors=2, shuffle="memory", memory_limit="256KiB", log_level="warning"
    ) as cluster:
        with ballista_flight.connect(cluster.uri) as ctx:
            register_tpch(ctx, tpch_dir)
            got = ctx.sql(sql).to_arrow()
        assert_same_result(got, reference.sql(sql).to_arrow_table(), ordered=True)
        stats = wait_until_released(cluster.uri)
        assert sum(s["spilled_bytes"] for s in stats) > 0, "nothing spilled under a 256KiB budget"
        assert all(s["memory_bytes"] == 0 and s["disk_bytes"] == 0 for s in stats)
        assert _files(cluster.work_dir) == []


def test_explain_shows_stages_and_exchanges(client: ballista_flight.Context) -> None:
    table = client.execute("EXPLAIN " + Q3)
    plans = dict(zip(table.column("plan_type").to_pylist(), table.column("plan").to_pylist(), strict=True))
    text = plans["distributed_plan"]
    assert "Stage 0:" in text
    assert "ShuffleReadExec" in text
    assert "partitioning=Hash(" in text
    assert plans["distributed_plan_dot"].startswith("digraph")
    assert client.sql(Q3).explain() == text


def test_catalog_statements(client: ballista_flight.Context, tpch_dir: Path) -> None:
    client.register_parquet("nation_copy", f"{tpch_dir / 'nation'}/")
    assert "nation_copy" in client.tables()
    assert client.sql("select count(*) as n from nation_copy").to_arrow().column("n").to_pylist() == [25]
    client.deregister_table("nation_copy")
    assert "nation_copy" not in client.tables()


def test_proxy_mode_serves_results_from_the_scheduler(tpch_dir: Path, reference: SessionContext) -> None:
    sql = (QUERIES_DIR / "q05.sql").read_text()
    cluster = StandaloneCluster(executors=2, extra_scheduler_args=["--proxy-results"], log_level="warning")
    with cluster, ballista_flight.connect(cluster.uri) as ctx:
        register_tpch(ctx, tpch_dir)
        with flight.FlightClient(cluster.uri) as plain:
            info = plain.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
            assert info.endpoints
            assert all(not e.locations for e in info.endpoints)
            import pyarrow as pa

            got = pa.concat_tables([plain.do_get(e.ticket).read_all() for e in info.endpoints])
        assert_same_result(got, reference.sql(sql).to_arrow_table(), ordered=True)


def test_shuffle_partitions_is_a_session_setting(
    client: ballista_flight.Context, reference: SessionContext
) -> None:
    # Default: the cluster's total slots (two executors, one slot per core each).
    slots = 2 * (os.cpu_count() or 1)
    assert f"partitions={slots}, partitioning=Hash(" in client.sql(Q3).explain()
    try:
        client.execute("SET ballista.shuffle_partitions = 3")
        assert "partitions=3, partitioning=Hash(" in client.sql(Q3).explain()
        assert_same_result(client.sql(Q3).to_arrow(), reference.sql(Q3).to_arrow_table(), ordered=True)
    finally:
        client.execute("SET ballista.shuffle_partitions = 0")
    assert f"partitions={slots}, partitioning=Hash(" in client.sql(Q3).explain()


def test_batch_size_is_the_clusters_default_and_a_session_setting(
    client: ballista_flight.Context, reference: SessionContext
) -> None:
    sql = "SELECT l_orderkey, l_quantity FROM lineitem"
    rows = reference.sql(sql).count()
    default = SchedulerConfig().batch_size
    assert default > 8192  # above DataFusion's own default, or this test shows nothing
    table = client.sql(sql).to_arrow()
    assert table.num_rows == rows
    assert 8192 < max(b.num_rows for b in table.to_batches()) <= default
    try:
        client.execute("SET datafusion.execution.batch_size = 1000")
        table = client.sql(sql).to_arrow()
        assert table.num_rows == rows
        assert max(b.num_rows for b in table.to_batches()) <= 1000
    finally:
        client.execute(f"SET datafusion.execution.batch_size = {default}")


def test_required_settings_cannot_be_changed(client: ballista_flight.Context) -> None:
    with pytest.raises(flight.FlightError, match="fixed by ballista-flight"):
        client.execute("SET datafusion.optimizer.enable_dynamic_filter_pushdown = true")


def test_concurrent_queries_share_the_cluster(
    client: ballista_flight.Context, reference: SessionContext
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = ["q03", "q05", "q10", "q12", "q14", "q18"]
    sqls = [(QUERIES_DIR / f"{n}.sql").read_text() for n in names]
    uri = client.uri

    def run(sql: str) -> object:
        with ballista_flight.connect(uri, timeout=300) as ctx:
            return ctx.sql(sql).to_arrow()

    with ThreadPoolExecutor(max_workers=len(sqls)) as pool:
        results = list(pool.map(run, sqls))
    for name, sql, got in zip(names, sqls, results, strict=True):
        assert_same_result(got, reference.sql(sql).to_arrow_table(), ordered=True, context=name)  # type: ignore[arg-type]


def test_get_schema_answers_without_running(
    memory_cluster: StandaloneCluster, client: ballista_flight.Context
) -> None:
    sql = "select n_name, count(*) as n from nation group by n_name"
    with flight.FlightClient(memory_cluster.uri) as plain:
        schema = plain.get_schema(flight.FlightDescriptor.for_command(sql.encode())).schema
    assert schema.names == ["n_name", "n"]
    assert schema == client.sql(sql).to_arrow().schema


def test_job_status_and_cancel(memory_cluster: StandaloneCluster, client: ballista_flight.Context) -> None:
    import json

    with flight.FlightClient(memory_cluster.uri) as plain:
        info = plain.get_flight_info(flight.FlightDescriptor.for_command(Q3.encode()))
        job_id = info.app_metadata

        def action(name: str) -> dict[str, object]:
            return json.loads(next(iter(plain.do_action((name, job_id)))).body.to_pybytes())  # type: ignore[no-any-return]

        assert action("job_status")["state"] == "JOB_RESULTS_READY"
        assert action("cancel_job")["state"] == "JOB_CANCELLED"
        endpoint = info.endpoints[0]
        where = flight.FlightClient(endpoint.locations[0]) if endpoint.locations else plain
        with pytest.raises(flight.FlightError, match="finished"):
            where.do_get(endpoint.ticket).read_all()
        with pytest.raises(flight.FlightError, match="unknown job"):
            list(plain.do_action(("job_status", b"nope")))
    assert wait_until_released(memory_cluster.uri)[0]["jobs"] == []
    assert client.sql("select count(*) as n from region").to_arrow().column("n").to_pylist() == [5]
