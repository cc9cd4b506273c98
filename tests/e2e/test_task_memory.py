"""--task-memory-limit bounds DataFusion's working memory per task: sorts spill, and an
operator that cannot fit fails its query with a clear error, leaving the cluster healthy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import register_tpch

if TYPE_CHECKING:
    from pathlib import Path

    from datafusion import SessionContext

pytestmark = pytest.mark.slow

# About 30 MB of rows to sort at SF0.1, far more than the limit below lets a task hold.
SORT = "SELECT l_orderkey, l_linenumber, l_comment FROM lineitem ORDER BY l_comment, l_orderkey, l_linenumber"


def _operators(uri: str, job: bytes) -> list[dict[str, str]]:
    with flight.FlightClient(uri) as client:
        body = next(iter(client.do_action(("job_profile", job)))).body.to_pybytes()
    return [op for task in json.loads(body)["tasks"] for op in task.get("operators", [])]


def test_sorts_spill_under_the_limit_and_keep_their_rows(tpch_dir: Path, reference: SessionContext) -> None:
    # DataFusion's batch size: the final merge holds a batch per input stream, and at the
    # cluster's default (32768 rows) those alone outgrow a pool this small.
    cluster = StandaloneCluster(
        executors=2,
        log_level="warning",
        extra_scheduler_args=["--batch-size", "8192"],
        extra_executor_args=["--task-memory-limit", "32MiB"],
    )
    with cluster, ballista_flight.connect(cluster.uri) as ctx:
        register_tpch(ctx, tpch_dir)
        result = ctx.sql(SORT)
        table = result.to_arrow()
        assert table.equals(reference.sql(SORT).to_arrow_table())
        assert result.info is not None
        spills = [
            op for op in _operators(cluster.uri, result.info.app_metadata) if int(op.get("spillCount", 0))
        ]
        assert spills, "no operator spilled: the limit did not reach DataFusion"


def test_a_task_over_the_limit_fails_its_query_clearly(tpch_dir: Path, reference: SessionContext) -> None:
    # A sort reserves 10 MB (datafusion.execution.sort_spill_reservation_bytes) to merge its spills.
    cluster = StandaloneCluster(
        executors=2, log_level="error", extra_executor_args=["--task-memory-limit", "4MiB"]
    )
    with cluster, ballista_flight.connect(cluster.uri) as ctx:
        register_tpch(ctx, tpch_dir)
        with pytest.raises(flight.FlightError) as failed:
            ctx.sql(SORT).to_arrow()
        message = str(failed.value)
        assert "Resources exhausted" in message
        assert "--task-memory-limit" in message
        # Nothing is left behind, and the next query runs on the same executors.
        small = "SELECT n_regionkey, count(*) AS n FROM nation GROUP BY n_regionkey"
        assert_same_result(ctx.sql(small).to_arrow(), reference.sql(small).to_arrow_table(), ordered=False)
