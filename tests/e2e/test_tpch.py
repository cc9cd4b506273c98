"""All 22 TPC-H queries through a plain pyarrow.flight client, against single-process DataFusion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, register_tpch
from tests.e2e.cluster_utils import wait_until_released

pytestmark = pytest.mark.slow

QUERIES = sorted(QUERIES_DIR.glob("q*.sql"))


def flight_query(uri: str, sql: str) -> pa.Table:
    """The public Flight flow: GetFlightInfo, then DoGet of every endpoint, in order."""
    return _flight_flow(uri, sql, with_status=False)[0]


def flight_query_and_status(uri: str, sql: str) -> tuple[pa.Table, dict[str, Any]]:
    """``flight_query``, then the finished job's status (its stages) from the scheduler."""
    return _flight_flow(uri, sql, with_status=True)


def _flight_flow(uri: str, sql: str, with_status: bool) -> tuple[pa.Table, dict[str, Any]]:
    options = flight.FlightCallOptions(timeout=300)
    status: dict[str, Any] = {}
    with flight.FlightClient(uri) as scheduler:
        info = scheduler.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()), options)
        tables = []
        for endpoint in info.endpoints:
            if endpoint.locations:
                with flight.FlightClient(endpoint.locations[0]) as executor:
                    tables.append(executor.do_get(endpoint.ticket, options).read_all())
            else:
                tables.append(scheduler.do_get(endpoint.ticket, options).read_all())
        if with_status:
            action = ("job_status", info.app_metadata)
            status = json.loads(next(iter(scheduler.do_action(action, options))).body.to_pybytes())
    return (pa.concat_tables(tables) if tables else info.schema.empty_table()), status


def _tpch_cluster(tpch_dir: Path, args: list[str], shuffle: str = "memory") -> Iterator[str]:
    """A 2-executor cluster started with scheduler ``args``, the TPC-H tables registered."""
    import ballista_flight

    with StandaloneCluster(
        executors=2, shuffle=shuffle, log_level="warning", extra_scheduler_args=args
    ) as cluster:
        with ballista_flight.connect(cluster.uri) as ctx:
            register_tpch(ctx, tpch_dir)
        yield cluster.uri


@pytest.fixture(scope="module")
def registered(cluster: object, tpch_dir: Path) -> str:
    import ballista_flight

    uri = cluster.uri  # type: ignore[attr-defined]
    with ballista_flight.connect(uri) as ctx:
        register_tpch(ctx, tpch_dir)
    return uri  # type: ignore[no-any-return]


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_tpch_query_matches_datafusion(registered: str, reference: object, query: Path) -> None:
    sql = query.read_text()
    got = flight_query(registered, sql)
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(got, expected, ordered="order by" in sql.lower(), context=query.stem)


@pytest.fixture(scope="module")
def small_queries(tpch_dir: Path) -> Iterator[str]:
    """A cluster that runs every TPC-H query at this scale as one task (under its small-query bytes)."""
    yield from _tpch_cluster(tpch_dir, ["--small-query-bytes", str(10**12)])


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_small_query_runs_as_one_task_and_matches_datafusion(
    small_queries: str, reference: object, query: Path
) -> None:
    sql = query.read_text()
    with flight.FlightClient(small_queries) as scheduler:
        info = scheduler.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
        assert len(info.endpoints) == 1
        with flight.FlightClient(info.endpoints[0].locations[0]) as executor:
            got = executor.do_get(info.endpoints[0].ticket).read_all()
        action = ("job_status", info.app_metadata)
        status = json.loads(next(iter(scheduler.do_action(action))).body.to_pybytes())
    assert len(status["stages"]) == 1, status["stages"]
    assert int(status["tasks"]) == 1
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(got, expected, ordered="order by" in sql.lower(), context=query.stem)


@pytest.fixture(scope="module", params=["memory", "disk"])
def tiny_stages(request: pytest.FixtureRequest, tpch_dir: Path) -> Iterator[str]:
    """A cluster that runs stages whose shuffle inputs add up to under 1 MiB as one task."""
    yield from _tpch_cluster(tpch_dir, ["--tiny-stage-bytes", str(1 << 20)], request.param)


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_tiny_stages_run_as_one_task_and_match_datafusion(
    tiny_stages: str, reference: object, query: Path
) -> None:
    sql = query.read_text()
    got = flight_query(tiny_stages, sql)
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(got, expected, ordered="order by" in sql.lower(), context=query.stem)


def _stages(uri: str, sql: str) -> tuple[pa.Table, dict[int, dict[str, Any]]]:
    got, status = flight_query_and_status(uri, sql)
    # JSON leaves out fields at their default (stage 0's id, no inputs).
    return got, {int(stage.get("stageId", 0)): stage for stage in status["stages"]}


def test_q01s_final_aggregate_runs_inside_the_result_stage_only_when_its_inputs_are_tiny(
    tiny_stages: str, registered: str
) -> None:
    """q01: scan, final aggregate per partition (a few groups), ordered merge of the partitions."""
    sql = (QUERIES_DIR / "q01.sql").read_text()
    tiny_rows, tiny = _stages(tiny_stages, sql)
    every_rows, every = _stages(registered, sql)
    assert_same_result(tiny_rows, every_rows, ordered=True)
    (merged,) = [i for i, s in every.items() if s["output"] == "merge"]
    assert int(every[merged]["tasks"]) > 1
    scans = [i for i, s in every.items() if not s.get("inputs")]
    final = max(every)
    # The final aggregate's stage is gone: the result stage runs its plan, in one task,
    # reading the scan stage's shuffle output itself.
    assert tiny.keys() == every.keys() - {merged}
    assert [int(i) for i in tiny[final]["inputs"]] == scans
    assert int(tiny[final]["tasks"]) == 1
    assert all(tiny[i]["tasks"] == every[i]["tasks"] for i in scans)  # file scans keep their tasks
    assert all(tiny[i]["rows"] == every[i]["rows"] for i in scans)


def test_an_unordered_final_aggregate_runs_as_one_task_only_when_its_inputs_are_tiny(
    tiny_stages: str, registered: str, reference: object
) -> None:
    """Without ORDER BY the final stage has a partition per bucket: one task runs them all."""
    sql = "select l_returnflag, l_linestatus, count(*) as n, sum(l_quantity) as q from lineitem group by 1, 2"
    tiny_rows, tiny = _stages(tiny_stages, sql)
    _, every = _stages(registered, sql)
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(tiny_rows, expected, ordered=False)
    final = max(every)
    assert tiny.keys() == every.keys()
    assert int(every[final]["tasks"]) == int(every[final]["partitions"]) > 1
    assert int(tiny[final]["tasks"]) == 1 < int(tiny[final]["partitions"])
    assert tiny[final]["rows"] == every[final]["rows"]


def test_single_task_stage_hands_every_partition_to_its_consumer(registered: str, reference: object) -> None:
    """q20's semi join emits its rows only once all probe partitions ran in one plan: one task runs
    them all and keeps each partition's rows as one output, which the final stage merges."""
    sql = (QUERIES_DIR / "q20.sql").read_text()
    got, status = flight_query_and_status(registered, sql)
    expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(got, expected, ordered=True, context="q20")
    single = [
        s for s in status["stages"] if s["output"] == "merge" and int(s["tasks"]) == 1 < int(s["partitions"])
    ]
    assert single, status["stages"]
    # Its rows reached the consumer as shuffle output (an empty output would make the
    # consumer recompute the whole subtree instead).
    assert all(int(s["rows"]) == expected.num_rows for s in single)


def test_inputs_past_the_input_memory_limit_are_landed_and_give_the_same_rows(
    tpch_dir: Path, reference: object
) -> None:
    """With --input-memory-limit 1 every fetched input goes through a file; answers do not change."""
    import ballista_flight

    with (
        StandaloneCluster(
            executors=2, log_level="warning", extra_executor_args=["--input-memory-limit", "1"]
        ) as cluster,
        ballista_flight.connect(cluster.uri) as ctx,
    ):
        register_tpch(ctx, tpch_dir)
        for name in ("q03", "q09", "q13", "q18", "q21"):
            sql = (QUERIES_DIR / f"{name}.sql").read_text()
            expected = reference.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
            assert_same_result(
                ctx.sql(sql).to_arrow(), expected, ordered="order by" in sql.lower(), context=name
            )
        stats = wait_until_released(cluster.uri)
        assert all(s["input_memory_bytes"] == 0 for s in stats), stats
        assert sum(s["input_landed_bytes"] for s in stats) > 0, stats
