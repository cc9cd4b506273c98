"""COPY ... TO and INSERT INTO: every final task writes its own files, published on success."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext

import ballista_flight
from tests.compare import assert_same_result
from tests.e2e.cluster_utils import executors

if TYPE_CHECKING:
    from pathlib import Path

    from ballista_flight.standalone import StandaloneCluster

pytestmark = pytest.mark.slow

QUERY = "SELECT o_orderkey, o_custkey, o_totalprice, o_orderstatus FROM orders WHERE o_orderkey % 7 = 1"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _writers(files: list[Path], executor_ids: list[str]) -> set[str]:
    """Executors named in the written files' names (part-<task>-<attempt>-<executor>-...)."""
    return {e for f in files for e in executor_ids if e in f.name}


def _read_back(path: Path, fmt: str) -> pa.Table:
    ctx = SessionContext()
    cols = [("o_orderstatus", pa.string())]
    if fmt == "parquet":
        ctx.register_parquet("back", f"{path}/", table_partition_cols=cols)
    else:
        ctx.sql(
            "CREATE EXTERNAL TABLE back (o_orderkey BIGINT, o_custkey BIGINT, o_totalprice DECIMAL(15, 2), "
            f"o_orderstatus VARCHAR) STORED AS CSV PARTITIONED BY (o_orderstatus) LOCATION '{path}/' "
            "OPTIONS ('format.has_header' 'true')"
        )
    return ctx.sql("SELECT o_orderkey, o_custkey, o_totalprice, o_orderstatus FROM back").to_arrow_table()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_copy_partitioned_writes_in_parallel_and_reads_back(
    fmt: str,
    memory_cluster: StandaloneCluster,
    client: ballista_flight.Context,
    reference: SessionContext,
    tmp_path: Path,
) -> None:
    target = tmp_path / "out"
    result = client.execute(
        f"COPY ({QUERY}) TO '{target}' STORED AS {fmt.upper()} PARTITIONED BY (o_orderstatus)"
    )
    expected = reference.sql(QUERY).to_arrow_table()
    assert result.column_names == ["count"]
    assert result.column("count").to_pylist() == [expected.num_rows]
    files = _files(target)
    assert {f.parent.name for f in files} == {"o_orderstatus=F", "o_orderstatus=O", "o_orderstatus=P"}
    ids = [e["executor_id"] for e in executors(memory_cluster.uri)]
    assert len(_writers(files, ids)) > 1, [f.name for f in files]
    back = _read_back(target, fmt)
    assert_same_result(back, expected.cast(back.schema), ordered=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files were left"
    plan = client.execute(f"EXPLAIN COPY ({QUERY}) TO '{target}2' STORED AS {fmt.upper()}")
    assert f"writes files to file://{target}2" in plan.column("plan").to_pylist()[1]


def test_result_write_parquet_and_insert_into_appends(
    client: ballista_flight.Context, reference: SessionContext, tmp_path: Path
) -> None:
    assert client.sql(QUERY).write_parquet(str(tmp_path / "copy")) > 0
    table = tmp_path / "table"
    table.mkdir()
    client.execute(
        "CREATE EXTERNAL TABLE IF NOT EXISTS w_appended (o_orderkey BIGINT, o_custkey BIGINT, "
        f"o_totalprice DECIMAL(15, 2), o_orderstatus VARCHAR) STORED AS PARQUET LOCATION '{table}/'"
    )
    try:
        expected = reference.sql(QUERY).to_arrow_table()
        for times in (1, 2):
            inserted = client.execute(f"INSERT INTO w_appended {QUERY}")
            assert inserted.column("count").to_pylist() == [expected.num_rows]
            got = client.sql("SELECT * FROM w_appended").to_arrow()
            assert got.num_rows == times * expected.num_rows
        both = pa.concat_tables([expected, expected]).cast(got.schema)
        assert_same_result(got, both, ordered=False)
        assert pq.read_table(tmp_path / "copy").num_rows == expected.num_rows
        # A target with an extension is one file, written by one task.
        assert client.sql(QUERY).write_json(str(tmp_path / "one.json")) == expected.num_rows
        assert (tmp_path / "one.json").is_file()
        assert pajson.read_json(tmp_path / "one.json").num_rows == expected.num_rows
    finally:
        client.execute("DROP TABLE w_appended")


def test_failed_copy_leaves_no_files(client: ballista_flight.Context, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for part in range(4):
        # Only the last file has a zero divisor: the other tasks write their files first.
        divisors = [part + 1] * 999 + [0 if part == 3 else 1]
        pq.write_table(pa.table({"x": list(range(1000)), "d": divisors}), source / f"p{part}.parquet")
    client.register_parquet("w_failing", f"{source}/")
    target = tmp_path / "out"
    with pytest.raises(Exception, match=r"[Dd]ivide by zero"):
        client.execute(f"COPY (SELECT x, 100 / d AS q FROM w_failing) TO '{target}' STORED AS PARQUET")
    assert not target.exists() or _files(target) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"], "temporary files were left"
    client.deregister_table("w_failing")


@pytest.mark.parametrize("query", ["ordered", "grouped"])
def test_copy_of_dictionary_columns(
    query: str, client: ballista_flight.Context, reference: SessionContext, tmp_path: Path
) -> None:
    """Every batch of a task's rows may carry its own dictionary: all of them are written."""
    sql = {
        "ordered": "SELECT arrow_cast(o_orderstatus, 'Dictionary(Int32, Utf8)') AS s, o_orderkey FROM orders "
        "ORDER BY o_orderkey",
        "grouped": "SELECT arrow_cast(o_orderstatus, 'Dictionary(Int32, Utf8)') AS s, count(*) AS n FROM orders "
        "GROUP BY 1",
    }[query]
    target = tmp_path / "dict.parquet"
    result = client.execute(f"COPY ({sql}) TO '{target}' STORED AS PARQUET")
    expected = reference.sql(sql).to_arrow_table()
    assert result.column("count").to_pylist() == [expected.num_rows]
    back = pq.read_table(target)
    plain = pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in expected.schema]
    )
    assert_same_result(back.cast(plain), expected.cast(plain), ordered=False)
