"""Restricting encoded file scans to some of their partitions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from datafusion import ExecutionPlan

from ballista_flight.plan.protowire import ProtoWireError
from ballista_flight.plan.scans import file_group_count, restrict_file_groups
from ballista_flight.plan.session import make_context, placeholder

if TYPE_CHECKING:
    from pathlib import Path


def _leaf(plan: ExecutionPlan) -> ExecutionPlan:
    while plan.children():
        plan = plan.children()[0]
    return plan


def _rows_per_partition(data: bytes) -> list[int]:
    ctx = make_context(4)
    plan = ExecutionPlan.from_bytes(ctx, data)
    return [sum(b.to_pyarrow().num_rows for b in ctx.execute(plan, p)) for p in range(plan.partition_count)]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_restricting_keeps_only_the_chosen_partitions(tpch_dir: Path, tmp_path: Path, fmt: str) -> None:
    ctx = make_context(4)
    ctx.register_parquet("orders", f"{tpch_dir / 'orders'}/")
    if fmt == "parquet":
        ctx.register_parquet("t", f"{tpch_dir / 'orders'}/")
    else:
        for i in range(3):  # several CSV files, so there are several partitions
            sql = f"SELECT * FROM orders WHERE o_orderkey % 3 = {i}"
            ctx.sql(sql).write_csv(str(tmp_path / f"part{i}.csv"), with_header=True)
        ctx.register_csv("t", f"{tmp_path}/")
    leaf = _leaf(ctx.sql("select o_orderkey from t where o_orderkey > 10").execution_plan())
    data = leaf.to_bytes()
    assert file_group_count(data) == leaf.partition_count > 1
    full = _rows_per_partition(data)
    for keep in ({0}, {1, 2}, set()):
        got = _rows_per_partition(restrict_file_groups(data, keep))
        assert got == [n if i in keep else 0 for i, n in enumerate(full)]


def test_non_file_scans_are_not_recognized() -> None:
    assert file_group_count(placeholder("x")) in (None, 1)
    ctx = make_context(2)
    leaf = _leaf(ctx.sql("select 1").execution_plan())
    assert file_group_count(leaf.to_bytes()) is None
    with pytest.raises(ProtoWireError):
        restrict_file_groups(leaf.to_bytes(), {0})
