"""--data-roots: a cluster reads and writes files only inside its configured roots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pyarrow import flight

import ballista_flight
from ballista_flight.standalone import StandaloneCluster
from tests.conftest import register_tpch
from tests.e2e.test_bad_input import assert_clean_message, assert_healthy

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_locations_outside_the_data_roots_are_refused(tpch_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to("/etc")
    roots = f"{tpch_dir},{out}"
    cluster = StandaloneCluster(
        executors=1, log_level="critical", extra_scheduler_args=["--data-roots", roots]
    )
    with cluster, ballista_flight.connect(cluster.uri, timeout=60) as ctx:
        register_tpch(ctx, tpch_dir)  # inside a root: allowed
        refused = [
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc'",
            f"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{tpch_dir}/../../../../etc/'",
            f"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{out}/link/'",
            "COPY (SELECT 1 AS x) TO '/tmp/escaped.csv' STORED AS CSV",
            f"COPY (SELECT 1 AS x) TO '{out}/link/x.csv' STORED AS CSV",
        ]
        for sql in refused:
            with pytest.raises(flight.FlightError) as info:
                ctx.execute(sql)
            assert_clean_message(info.value, "outside the data roots")
        with pytest.raises(flight.FlightError) as info:
            ctx.register_csv("passwd", "/etc/passwd")
        assert_clean_message(info.value, "outside the data roots")
        assert "passwd" not in ctx.tables()
        ctx.execute(f"COPY (SELECT n_name FROM nation) TO '{out}/nation.parquet' STORED AS PARQUET")
        ctx.register_parquet("copied", f"{out}/nation.parquet")
        assert ctx.execute("SELECT count(*) AS n FROM copied").column("n").to_pylist() == [25]
        assert_healthy(ctx)
