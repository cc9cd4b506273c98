"""Data roots: locations resolved ('..', symlinks, file://, globs) before they are compared."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from datafusion import SessionContext

from ballista_flight.errors import PlanningError
from ballista_flight.scheduler.dataroots import check_statement, inside, parse_roots

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data" / "t").mkdir(parents=True)
    (tmp_path / "data" / "escape").symlink_to("/etc")
    return tmp_path / "data"


def test_inside(root: Path) -> None:
    roots = parse_roots(f" {root} ,/nonexistent-root")
    assert inside(str(root / "t"), roots)
    assert inside(f"file://{root}/t/", roots)
    assert inside(f"{root}/t/*.parquet", roots)
    assert inside(str(root), roots)
    assert not inside("/etc", roots)
    assert not inside(f"{root}/../outside", roots)
    assert not inside(f"{root}/t/../../outside/*.csv", roots)
    assert not inside(f"{root}/escape/passwd", roots)  # a symlink out of the root
    assert not inside(f"{root}x/t", roots)  # a sibling whose name starts like the root
    assert not inside("s3://bucket/key", roots)


def test_object_store_roots() -> None:
    roots = parse_roots("s3://bucket/data/,/srv")
    assert inside("s3://bucket/data/t/", roots)
    assert inside("S3://bucket/data", roots)
    assert not inside("s3://bucket/database/t", roots)  # a sibling prefix
    assert not inside("s3://bucket/data/../secret/", roots)
    assert not inside("s3://other/data/t", roots)
    assert not inside("gs://bucket/data/t", roots)
    assert not inside("/etc", roots)
    assert inside("/srv/x", roots)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc'",
        "create external table t stored as csv location '{root}/../../etc/'",
        "/* c */ CREATE EXTERNAL TABLE t STORED AS CSV LOCATION E'/\\x65tc/'",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{root}/escape/'",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file:///etc/passwd'",
        "COPY (SELECT 1 AS x) TO '/tmp/../etc/out.csv' STORED AS CSV",
        "COPY (SELECT 1 AS x) TO '{root}/escape/out.parquet'",
    ],
)
def test_statements_outside_the_roots_are_refused(root: Path, sql: str) -> None:
    ctx = SessionContext()
    with pytest.raises(PlanningError, match="outside the data roots"):
        check_statement(ctx, sql.format(root=root), parse_roots(str(root)))
    assert ctx.sql("SHOW TABLES").to_arrow_table().num_rows > 0  # nothing was created


def test_statements_inside_the_roots_and_other_statements_pass(root: Path) -> None:
    ctx = SessionContext()
    roots = parse_roots(str(root))
    for sql in [
        f"CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{root}/t/'",
        f"COPY (SELECT 1 AS x) TO '{root}/t/out.csv' STORED AS CSV",
        "SELECT 1",
        "SET datafusion.execution.batch_size = 100",
        "CREATE VIEW v AS SELECT 1 AS x",
    ]:
        check_statement(ctx, sql, roots)
    check_statement(ctx, "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc'", [])  # no roots


def test_unplannable_statements_are_refused_with_datafusion_s_error(root: Path) -> None:
    with pytest.raises(PlanningError):
        check_statement(SessionContext(), "CREATE EXTERNAL TABLE LOCATION", parse_roots(str(root)))
