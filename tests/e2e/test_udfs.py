"""Python UDFs, UDAFs and window UDFs run on the executors, never in the scheduler.

Functions and accumulator classes are defined inside the tests so cloudpickle
ships them by value (a module-level one would travel by reference and need this
test module on the executors). Each result must equal single-process DataFusion
with the same function.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datafusion import Accumulator, SessionContext, col, udaf, udf, udwf
from datafusion import functions as f
from datafusion.user_defined import WindowEvaluator

import ballista_flight
from tests.compare import assert_same_result

if TYPE_CHECKING:
    from pathlib import Path

    from ballista_flight.standalone import StandaloneCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local(tpch_dir: Path) -> SessionContext:
    ctx = SessionContext()
    ctx.register_parquet("orders", f"{tpch_dir}/orders/")
    return ctx


@pytest.fixture(scope="module")
def ctx(memory_cluster: StandaloneCluster, tpch_dir: Path) -> ballista_flight.Context:
    ctx = ballista_flight.connect(memory_cluster.uri, timeout=120)
    ctx.register_parquet("orders", f"{tpch_dir}/orders/")
    return ctx


def _both(
    ctx: ballista_flight.Context, local: SessionContext, sql: str, *, ordered: bool = False
) -> pa.Table:
    got = ctx.sql(sql).to_arrow()
    assert_same_result(got, local.sql(sql).to_arrow_table(), ordered=ordered)
    return got


def test_scalar_udf_with_a_captured_constant(ctx: ballista_flight.Context, local: SessionContext) -> None:
    factor = 7  # captured by the closure: travels by value

    times = udf(lambda a: pc.multiply(a, factor), [pa.int64()], pa.int64(), "immutable", name="times_factor")
    ctx.register_udf(times)
    local.register_udf(times)
    # times_factor(2) = 14 is a constant expression: the scheduler's optimizer must not run it.
    sql = (
        "SELECT o_orderstatus, sum(times_factor(o_orderkey)) AS s, count(*) AS n FROM orders "
        "WHERE times_factor(2) = 14 AND o_orderkey % 3 = 0 GROUP BY o_orderstatus"
    )
    got = _both(ctx, local, sql)
    assert got.num_rows == 3
    # The DataFrame API calls the same function.
    df = ctx.table("orders").select(times(col("o_orderkey")).alias("x")).aggregate([], [f.max(col("x"))])
    assert df.to_arrow().column(0).to_pylist() == [
        7 * local.sql("SELECT max(o_orderkey) FROM orders").to_pydict()["max(orders.o_orderkey)"][0]
    ]


def test_udaf_matches_datafusion(ctx: ballista_flight.Context, local: SessionContext) -> None:
    class SumOfSquares(Accumulator):
        def __init__(self) -> None:
            self._total = 0

        def update(self, values: pa.Array) -> None:
            self._total += pc.sum(pc.multiply(values, values)).as_py() or 0

        def merge(self, states: list[pa.Array]) -> None:
            self._total += pc.sum(states[0]).as_py() or 0

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self._total, pa.int64())]

        def evaluate(self) -> pa.Scalar:
            return pa.scalar(self._total, pa.int64())

    squares = udaf(SumOfSquares, [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="sum_squares")
    ctx.register_udaf(squares)
    local.register_udaf(squares)
    sql = "SELECT o_orderstatus, sum_squares(o_custkey % 1000) AS q FROM orders GROUP BY o_orderstatus"
    assert _both(ctx, local, sql).num_rows == 3


def test_window_udf_matches_datafusion(ctx: ballista_flight.Context, local: SessionContext) -> None:
    class SinceFirst(WindowEvaluator):
        def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
            return pc.subtract(values[0], values[0][0]) if num_rows else values[0]

    since_first = udwf(SinceFirst, [pa.int64()], pa.int64(), "immutable", name="since_first")
    ctx.register_udwf(since_first)
    local.register_udwf(since_first)
    sql = (
        "SELECT o_custkey, o_orderkey, since_first(o_orderkey) OVER (PARTITION BY o_custkey ORDER BY o_orderkey) "
        "AS d FROM orders WHERE o_custkey < 300"
    )
    got = _both(ctx, local, sql)
    assert got.num_rows > 100
    assert max(got.column("d").to_pylist()) > 0


def test_a_function_needing_a_missing_module_fails_clearly(
    ctx: ballista_flight.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module only this (client) process can import: the executors cannot.
    (tmp_path / "bf_client_only_helpers.py").write_text("def triple(a):\n    return a * 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import bf_client_only_helpers  # type: ignore[import-not-found]

    try:
        helper = bf_client_only_helpers
        uses_it = udf(
            lambda a: pa.array([helper.triple(v) for v in a.to_pylist()], pa.int64()),
            [pa.int64()],
            pa.int64(),
            "immutable",
            name="uses_missing_module",
        )
        ctx.register_udf(uses_it)
        with pytest.raises(Exception, match="uses_missing_module") as info:
            ctx.sql("SELECT uses_missing_module(o_orderkey) FROM orders").to_arrow()
        message = str(info.value)
        assert "bf_client_only_helpers" in message, message
        assert "Traceback" not in message
        assert ctx.sql("SELECT count(*) AS n FROM orders").to_arrow().num_rows == 1  # still healthy
        ctx.deregister_function("uses_missing_module")
        with pytest.raises(Exception, match="uses_missing_module"):
            ctx.sql("SELECT uses_missing_module(o_orderkey) FROM orders").to_arrow()
        with pytest.raises(Exception, match="no Python function named"):
            ctx.deregister_function("uses_missing_module")
    finally:
        sys.modules.pop("bf_client_only_helpers", None)


def test_an_exception_in_a_udf_reaches_the_client_as_one_clear_line(ctx: ballista_flight.Context) -> None:
    def refuse(values: pa.Array) -> pa.Array:
        raise ValueError(f"cannot price {len(values)} rows")

    ctx.register_udf(udf(refuse, [pa.int64()], pa.int64(), "immutable", name="refuse_to_price"))
    with pytest.raises(
        Exception, match=r"^ValueError: cannot price \d+ rows \(in refuse, line \d+\)"
    ) as info:
        ctx.sql("SELECT refuse_to_price(o_orderkey) FROM orders").to_arrow()
    message = str(info.value)
    assert "PyErr" not in message, message
    assert "Traceback" not in message, message
    assert "Detail:" not in message, message
    assert ctx.sql("SELECT count(*) AS n FROM orders").to_arrow().num_rows == 1  # still healthy
