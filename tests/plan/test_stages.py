"""Cutting plans into stages: the pure planning functions, and real DataFusion plans."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from ballista_flight.plan.physical import PlanNode, snapshot
from ballista_flight.plan.session import make_context, placeholder
from ballista_flight.plan.stages import (
    ExchangeKind,
    _broadcast_reads,
    cut_stages,
    fuse,
    fuses_into,
    one_stage,
    render,
    runs_as_one_task,
    scanned_bytes,
    slice_tasks,
    stage_depths,
    task_reads,
    to_dot,
)
from tests.compare import assert_same_result
from tests.plan.by_hand import run_by_hand

if TYPE_CHECKING:
    from pathlib import Path


def node(name: str, partitions: int, *children: PlanNode) -> PlanNode:
    return PlanNode(name, name, partitions, name.encode(), list(children))


def test_task_reads_follows_partitions_through_a_union() -> None:
    a, b = node("A", 2), node("B", 3)
    union = node("UnionExec", 5, a, b)
    boundaries = {id(a): 0, id(b): 1}
    assert task_reads(union, 0, boundaries) == {0: [0]}
    assert task_reads(union, 3, boundaries) == {1: [1]}


def test_task_reads_single_partition_child_and_all_partitions_fallback() -> None:
    small, big, same = node("S", 1), node("B", 3), node("P", 4)
    join = node("HashJoinExec", 4, small, same)
    assert task_reads(join, 2, {id(small): 0, id(same): 1}) == {0: [0], 1: [2]}
    odd = node("Weird", 2, big)
    assert task_reads(odd, 1, {id(big): 5}) == {5: [0, 1, 2]}


@pytest.fixture(scope="module")
def ctx(tpch_dir: Path) -> object:
    ctx = make_context(4)
    for table in ("lineitem", "orders", "customer", "nation"):
        ctx.register_parquet(table, f"{tpch_dir / table}/")
    return ctx


def test_stages_of_a_join_and_aggregate(ctx: object) -> None:
    sql = """select c_nationkey, count(*) as n from customer join orders on c_custkey = o_custkey
             group by c_nationkey order by c_nationkey"""
    root = snapshot(ctx.sql(sql).execution_plan())  # type: ignore[attr-defined]
    stages = cut_stages(root, placeholder)
    final = stages[-1]
    assert final.output is ExchangeKind.RESULT
    assert final.partitions == 1
    kinds = [s.output for s in stages[:-1]]
    assert ExchangeKind.REPARTITION in kinds
    assert ExchangeKind.MERGE in kinds
    # Producers come before consumers.
    for stage in stages:
        assert all(i.stage_id < stage.stage_id for i in stage.inputs)
        for inp in stage.inputs:
            assert inp.placeholder in stage.plan
    text = render(stages)
    assert "ShuffleReadExec" in text
    assert f"Stage {final.stage_id}: 1 task" in text
    assert to_dot(stages).startswith("digraph")


def test_running_stages_by_hand_gives_datafusion_rows(ctx: object) -> None:
    sql = """select o_orderpriority, count(*) as c, sum(l_quantity) as q
             from orders join lineitem on o_orderkey = l_orderkey
             where o_orderdate < date '1994-01-01' group by o_orderpriority"""
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    expected = ctx.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    assert_same_result(run_by_hand(stages), expected, ordered=False)


@pytest.mark.parametrize(
    ("sql", "exchange"),
    [
        # q01's tail: the final aggregate's partitions, merged in order
        (
            "select l_returnflag, count(*) as c, sum(l_quantity) as q from lineitem "
            "group by l_returnflag order by l_returnflag",
            ExchangeKind.MERGE,
        ),
        # an aggregate of an aggregate: the result stage hash-partitions the one below it
        (
            "select c, count(*) as n from (select l_orderkey, count(*) as c from lineitem "
            "group by l_orderkey) group by c",
            ExchangeKind.REPARTITION,
        ),
    ],
)
def test_a_tail_stage_fused_into_the_final_stage_gives_datafusion_rows(
    ctx: object, sql: str, exchange: ExchangeKind
) -> None:
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    final, producer = stages[-1], stages[-2]
    assert [(i.stage_id, i.kind) for i in final.inputs] == [(producer.stage_id, exchange)], render(stages)
    limit = 1 << 20
    assert fuses_into(producer, final, 10_000, limit)
    assert not fuses_into(producer, final, limit, limit)  # not under the limit
    assert not fuses_into(producer, final, 10_000, 0)  # 0 turns it off
    assert not fuses_into(stages[0], producer, 0, limit)  # only into the final stage
    scan_inputs = [(i.stage_id, i.kind) for i in producer.inputs]
    fuse(producer, final)
    assert [(i.stage_id, i.kind) for i in final.inputs] == scan_inputs
    assert final.tasks == 1
    assert producer.plan in final.plan
    assert final.reads_of(0, producer.inputs[0].stage_id) == list(range(producer.inputs[0].partitions))
    rendered = render([s for s in stages if s is not producer])
    assert f"ShuffleReadExec: stage={producer.stage_id}" not in rendered, rendered
    expected = ctx.sql(sql).to_arrow_table()  # type: ignore[attr-defined]
    got = run_by_hand([s for s in stages if s is not producer])
    assert_same_result(got, expected, ordered="order by" in sql)


def test_round_robin_fan_out_of_one_partition_is_dropped(ctx: object, tpch_dir: Path) -> None:
    ctx.register_parquet("one_file", str(tpch_dir / "nation" / "nation.1.parquet"))  # type: ignore[attr-defined]
    plan = snapshot(ctx.sql("select n_name from one_file where n_nationkey = 7").execution_plan())  # type: ignore[attr-defined]
    assert any("RoundRobinBatch" in n.detail for n in plan.walk())
    stages = cut_stages(plan, placeholder)
    assert len(stages) == 1
    assert stages[0].tasks == 1


def test_round_robin_below_a_partitioned_join_is_kept() -> None:
    scan = node("DataSourceExec", 1)
    rr = PlanNode("RepartitionExec", "RepartitionExec: partitioning=RoundRobinBatch(4)", 4, b"rr", [scan])
    other = node("Other", 4)
    join = PlanNode("HashJoinExec", "HashJoinExec: mode=Partitioned", 4, b"join", [rr, other])
    from ballista_flight.plan.stages import drop_round_robin

    assert drop_round_robin(join) is join


def test_stage_depths_count_exchanges_to_the_result(ctx: object) -> None:
    sql = """select c_nationkey, count(*) as n from customer join orders on c_custkey = o_custkey
             group by c_nationkey order by c_nationkey"""
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    depths = stage_depths(stages)
    assert depths[stages[-1].stage_id] == 0
    for stage in stages:
        for inp in stage.inputs:
            assert depths[inp.stage_id] >= depths[stage.stage_id] + 1
    assert max(depths.values()) >= 2


def test_broadcast_reads_are_inputs_every_task_reads_whole() -> None:
    reads = [{0: [0, 1, 2], 1: [0], -1: [0]}, {0: [0, 1, 2], 1: [1], -1: [0]}]
    assert _broadcast_reads(reads, {0: 3, 1: 2, -1: 1}) == {0, -1}
    assert _broadcast_reads(reads[:1], {0: 3, 1: 2, -1: 1}) == set()  # one task: nothing shared


def test_stage_with_a_broadcast_build_side_runs_whole(ctx: object) -> None:
    """A CollectLeft join over a shuffled build side: each task runs every partition of the
    stage with all of the build side and its own share of the probe-side files."""
    sql = """select o_orderpriority, count(*) as c from
             (select distinct c_custkey from customer where c_acctbal > 9000) big_spenders
             join orders on c_custkey = o_custkey group by o_orderpriority"""
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    joined = [s for s in stages if any("mode=CollectLeft" in n.detail for n in s.root.walk())]
    assert joined, render(stages)
    stage = joined[0]
    assert stage.whole_stage
    assert stage.inputs, "the build side is a shuffle read"
    for task in range(stage.partitions):
        for inp in stage.inputs:
            assert stage.reads[task][inp.stage_id] == list(range(inp.partitions))
    # Each task's plan keeps its own file group of the probe-side scan and empties the others.
    plans = {stage.task_plan(t) for t in range(stage.partitions)}
    assert len(plans) == stage.partitions


def test_scanned_bytes_adds_up_the_files_a_plan_reads(ctx: object, tpch_dir: Path) -> None:
    sql = "select count(*) from customer join orders on c_custkey = o_custkey"
    root = snapshot(ctx.sql(sql).execution_plan())  # type: ignore[attr-defined]
    files = [*(tpch_dir / "customer").glob("*.parquet"), *(tpch_dir / "orders").glob("*.parquet")]
    assert scanned_bytes(root) == sum(f.stat().st_size for f in files)
    assert scanned_bytes(snapshot(ctx.sql("select 1").execution_plan())) == 0  # type: ignore[attr-defined]


def test_scanned_bytes_is_unknown_for_data_that_is_not_in_files() -> None:
    data = make_context(2)
    data.register_record_batches("t", [[pa.record_batch({"a": [1, 2, 3]})]])
    assert scanned_bytes(snapshot(data.sql("select sum(a) from t").execution_plan())) is None


def test_one_stage_runs_the_whole_plan_as_one_task(ctx: object) -> None:
    sql = "select o_orderpriority, count(*) from orders group by o_orderpriority"
    root = snapshot(ctx.sql(sql).execution_plan())  # type: ignore[attr-defined]
    assert len(cut_stages(root, placeholder)) > 1
    (stage,) = one_stage(root)
    assert stage.plan == root.data
    assert stage.tasks == 1
    assert stage.output is ExchangeKind.RESULT


def test_whole_stages_run_one_slice_of_partitions_per_executor(ctx: object) -> None:
    sql = """select o_orderpriority, count(*) as c from
             (select distinct c_custkey from customer where c_acctbal > 9000) big_spenders
             join orders on c_custkey = o_custkey group by o_orderpriority order by o_orderpriority"""
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    before = {s.stage_id: s.tasks for s in stages}
    slice_tasks(stages, executors=2)
    sliced = [s for s in stages if s.slices]
    assert {s.output for s in sliced} == {ExchangeKind.REPARTITION, ExchangeKind.MERGE}, render(stages)
    by_id = {s.stage_id: s for s in stages}
    for stage in stages:
        for inp in stage.inputs:
            producer = by_id[inp.stage_id]
            if inp.ordered:  # a SortPreservingMerge needs every producer partition sorted on its own
                assert not producer.slices
            if inp.kind is ExchangeKind.MERGE:  # the consumer sees one partition per producer task
                assert inp.partitions == producer.outputs
                assert all(set(r.get(inp.stage_id, [])) <= set(range(inp.partitions)) for r in stage.reads)
        if not stage.slices:
            assert stage.tasks == before[stage.stage_id]
            continue
        assert stage.whole_stage
        assert stage.output in (ExchangeKind.REPARTITION, ExchangeKind.MERGE)
        assert stage.tasks == stage.outputs == 2
        assert sorted(p for owned in stage.slices for p in owned) == list(range(stage.partitions))
        for key in {k for reads in stage.reads for k in reads}:
            shares = [stage.reads_of(t, key) for t in range(stage.tasks)]
            every = sorted({p for reads in stage.reads for p in reads.get(key, [])})
            if all(share == every for share in shares):
                continue  # a broadcast input: every task reads it whole
            # The tasks' shares together are the partitions' shares, each read by one task.
            assert sorted(p for share in shares for p in share) == every
    fresh = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    slice_tasks(fresh, executors=8)  # at least one executor per partition: one partition per task
    assert not any(s.slices for s in fresh)


def test_only_stages_reading_tiny_shuffle_outputs_may_run_as_one_task(ctx: object) -> None:
    """q01's shape: a scan stage, a final aggregate per partition, an ordered merge."""
    sql = """select l_returnflag, count(*) as c from lineitem
             group by l_returnflag order by l_returnflag"""
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)  # type: ignore[attr-defined]
    slice_tasks(stages, executors=2)
    scan, final = stages[0], stages[-2]
    assert not scan.inputs
    assert not scan.reads_only_inputs  # it scans files: one task would scan every file
    assert final.reads_only_inputs, render(stages)
    assert final.partitions > 1
    assert not final.slices  # its consumer merges sorted partitions: it is not sliced
    limit = 1 << 20
    assert runs_as_one_task(final, 10_000, limit)
    assert not runs_as_one_task(final, limit, limit)  # not under the limit
    assert not runs_as_one_task(final, 10_000, 0)  # 0 turns it off
    assert not runs_as_one_task(scan, 0, limit)
    assert not runs_as_one_task(stages[-1], 0, limit)  # the merge: one partition already
    sliced = [s for s in stages if s.slices]
    assert all(not runs_as_one_task(s, 0, limit) for s in sliced)
    final.single_task = True
    assert final.tasks == 1
    assert final.outputs == final.partitions  # the same outputs for its consumer
    assert final.reads_of(0, scan.stage_id) == list(range(final.partitions))  # every hash partition
