"""Splitting a write off its query, and where each task's files go."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ballista_flight.plan.physical import snapshot
from ballista_flight.plan.protowire import replace_all, strings
from ballista_flight.plan.session import make_context, placeholder
from ballista_flight.plan.writes import (
    is_single_file,
    published_path,
    split_sink,
    target_urls,
    task_url,
    temporary_url,
)

if TYPE_CHECKING:
    from pathlib import Path


def _plan(tmp_path: Path, sql: str) -> object:
    for i in range(3):
        pq.write_table(pa.table({"a": [i, i + 1], "b": ["x", "y"]}), tmp_path / f"f{i}.parquet")
    ctx = make_context(3)
    ctx.register_parquet("t", f"{tmp_path}/")
    return snapshot(ctx.sql(sql).execution_plan())


def test_a_directory_target_keeps_the_query_partitions(tmp_path: Path) -> None:
    root = _plan(tmp_path, f"COPY (SELECT * FROM t) TO '{tmp_path}/out' STORED AS PARQUET PARTITIONED BY (b)")
    split = split_sink(root, placeholder)  # type: ignore[arg-type]
    assert split is not None
    sink, query = split
    assert sink.url == f"file://{tmp_path}/out"
    assert not sink.single_file
    assert query.partitions == 3
    assert sink.whole  # DataSinkExec over the coalesce, for whole-stage tasks
    assert target_urls(sink.template) == [sink.url]
    moved = replace_all(sink.template, sink.url.encode(), b"file:///elsewhere/")
    assert "file:///elsewhere/" in strings(moved)
    assert sink.url not in strings(moved)


def test_a_single_file_target_has_one_writer(tmp_path: Path) -> None:
    root = _plan(tmp_path, f"COPY (SELECT * FROM t) TO '{tmp_path}/out.csv' STORED AS CSV")
    split = split_sink(root, placeholder)  # type: ignore[arg-type]
    assert split is not None
    assert split[0].single_file
    assert split[1].partitions == 1
    assert not split[0].whole


def test_queries_have_no_sink(tmp_path: Path) -> None:
    assert split_sink(_plan(tmp_path, "SELECT * FROM t"), placeholder) is None  # type: ignore[arg-type]


def test_paths() -> None:
    assert is_single_file("file:///d/out.parquet")
    assert not is_single_file("file:///d/out")
    assert not is_single_file("file:///d/out.v1/")
    assert temporary_url("file:///d/out/", "j1") == "file:///d/.out.ballista-j1/"
    assert temporary_url("s3://bucket/", "j1") == "s3://bucket/.ballista-j1/"
    assert (
        task_url("s3://b/.o.ballista-j/", "part-00001-1-e1", "s3://b/o", False)
        == "s3://b/.o.ballista-j/part-00001-1-e1/"
    )
    assert task_url("file:///.f.ballista-j/", "p", "file:///f.csv", True) == "file:///.f.ballista-j/p/f.csv"
    assert published_path("b=x/abc_0.parquet", "part-00002-1-e", "file:///d/out", False) == (
        "file:///d/out/b=x/part-00002-1-e-abc_0.parquet"
    )
    assert published_path("abc_0.parquet", "p", "file:///d/out/", False) == "file:///d/out/p-abc_0.parquet"
    assert published_path("f.csv", "p", "file:///d/f.csv", True) == "file:///d/f.csv"
