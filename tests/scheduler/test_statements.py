"""Statement classification at the scheduler."""

from __future__ import annotations

import pytest

from ballista_flight.scheduler.statements import StatementKind, classify, explain_options


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("select 1", StatementKind.QUERY),
        ("  -- comment\n /* block */ SELECT 1", StatementKind.QUERY),
        ("with t as (select 1) select * from t", StatementKind.QUERY),
        ("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/x'", StatementKind.CATALOG),
        ("drop table t", StatementKind.CATALOG),
        ("SET datafusion.execution.batch_size = 100", StatementKind.CATALOG),
        ("show tables", StatementKind.LOCAL),
        ("describe t", StatementKind.LOCAL),
        ("EXPLAIN select 1", StatementKind.EXPLAIN),
    ],
)
def test_classify(sql: str, kind: StatementKind) -> None:
    assert classify(sql)[0] is kind


def test_explain_options_are_split_from_the_query() -> None:
    kind, rest = classify("explain analyze verbose select 1")
    assert kind is StatementKind.EXPLAIN
    options, query = explain_options(rest)
    assert options == {"analyze", "verbose"}
    assert query.strip() == "select 1"


def test_operator_count_ignores_strings_and_comments() -> None:
    from ballista_flight.scheduler.statements import operator_count

    assert operator_count("select a + b * c from t where x = 1 and y <> 'a+b' -- c + d") == 5
    assert operator_count("select '--' || \"a+b\" /* - */") == 1
    assert operator_count("select " + " + ".join(["1"] * 100)) == 99
