"""Shuffle inputs read by a decoded plan from memory (executor.inputs), without servers."""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from datafusion import ExecutionPlan, ScalarUDF, SessionContext

from ballista_flight.executor.inputs import InputBudget, MemoryInput, aligned_for_rust
from ballista_flight.executor.metrics import plan_metrics
from ballista_flight.executor.task import (
    SMALL_ROWS,
    Source,
    coalesce,
    coalesce_small,
    read_source,
    scan_schema,
)
from ballista_flight.plan.physical import snapshot
from ballista_flight.plan.session import make_context, placeholder
from ballista_flight.plan.stages import ExchangeKind, cut_stages
from ballista_flight.shuffle.store import write_ipc
from tests.compare import assert_same_result
from tests.plan.by_hand import run_by_hand

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _batch(start: int, rows: int) -> pa.RecordBatch:
    """Rows of many kinds of column, with the names a plan can give an exchange's columns."""
    ids = list(range(start, start + rows))
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array(ids, pa.int64()),
            "sum(t.x)": pa.array([decimal.Decimal(i) / 100 for i in ids], pa.decimal128(15, 2)),
            'it\'s "quoted"': pa.array([None if i % 3 == 0 else f"s{i}" for i in ids], pa.string()),
            "view": pa.array([f"v{i}" * (i % 5) for i in ids], pa.string_view()),
            "tags": pa.array([[i, i + 1] if i % 2 else None for i in ids], pa.list_(pa.int32())),
            "point": pa.array([{"x": i, "y": float(i)} for i in ids]),
            "day": pa.array(ids, pa.int32()).cast(pa.date32()),
            "kind": pa.array(["a" if i % 2 else "b" for i in ids]).dictionary_encode(),
            "nothing": pa.nulls(rows),
            "tags_by_name": pa.array(
                [[("k", i)] if i % 2 else [] for i in ids], pa.map_(pa.string(), pa.int64())
            ),
            "at": pa.array(ids, pa.timestamp("ns", tz="UTC")),
            "every": pa.array([pa.MonthDayNano([i, 1, 2]) for i in ids], pa.month_day_nano_interval()),
            "code": pa.array([i.to_bytes(2, "big") for i in ids], pa.binary(2)),
            "blob": pa.array([bytes([i % 256]) * (i % 20) for i in ids], pa.binary_view()),
            "text": pa.array([f"t{i}" for i in ids], pa.large_string()),
        }
    )


def _decode(memory: MemoryInput) -> tuple[SessionContext, ExecutionPlan]:
    ctx = SessionContext().with_python_udf_inlining(enabled=False)
    ctx.register_udf(memory.function)
    return ctx, ExecutionPlan.from_bytes(ctx, memory.scan())


def _rows(ctx: SessionContext, plan: ExecutionPlan, partition: int) -> list[dict[str, object]]:
    return [row for b in ctx.execute(plan, partition) for row in b.to_pyarrow().to_pylist()]


def test_every_partition_reads_its_batches_in_order() -> None:
    parts = [[_batch(0, 5), _batch(5, 3)], [], [_batch(100, 1)], [_batch(200, 7)]]
    schema = parts[0][0].schema
    memory = MemoryInput(schema, [list(p) for p in parts])
    ctx, plan = _decode(memory)
    assert plan.partition_count == 4
    for partition, batches in enumerate(parts):
        out = [b.to_pyarrow() for b in ctx.execute(plan, partition)]
        assert [row for b in out for row in b.to_pylist()] == [row for b in batches for row in b.to_pylist()]
        for b in out:
            assert b.schema.names == schema.names
            assert b.schema.types == schema.types


def test_a_batch_is_handed_over_once() -> None:
    memory = MemoryInput(_batch(0, 2).schema, [[_batch(0, 2)]])
    ctx, plan = _decode(memory)
    assert len(_rows(ctx, plan, 0)) == 2
    again = ExecutionPlan.from_bytes(ctx, memory.scan())
    with pytest.raises(Exception, match="read out of order"):
        _rows(ctx, again, 0)


def test_the_plan_names_its_function_and_carries_no_code() -> None:
    memory = MemoryInput(_batch(0, 2).schema, [[_batch(0, 2)]])
    stranger = SessionContext().with_python_udf_inlining(enabled=False)
    with pytest.raises(Exception, match=memory.name):
        ExecutionPlan.from_bytes(stranger, memory.scan())


def test_metrics_report_the_input_as_one_scan_with_its_rows() -> None:
    memory = MemoryInput(_batch(0, 4).schema, [[_batch(0, 4)], [_batch(4, 6)]])
    ctx, plan = _decode(memory)
    for partition in range(2):
        _rows(ctx, plan, partition)
    ops = plan_metrics(plan, {memory.name: 7})
    assert len(ops) == 1, [op.name for op in ops]
    assert ops[0].input_stage == 7
    assert ops[0].output_rows == 10


def test_coalesce_small_joins_only_small_runs() -> None:
    big = _batch(0, SMALL_ROWS).drop_columns(["view", "blob"])  # views are never joined
    smalls = [_batch(i, 10).drop_columns(["view", "blob"]) for i in range(3)]
    out = coalesce_small([smalls[0], big, smalls[1], smalls[2]])
    assert out[1] is big
    assert [b.num_rows for b in out] == [10, SMALL_ROWS, 20]
    expected = pa.Table.from_batches([smalls[0], big, smalls[1], smalls[2]])
    assert pa.Table.from_batches(out).to_pylist() == expected.to_pylist()


@pytest.fixture(scope="module")
def ctx(tpch_dir: Path) -> SessionContext:
    ctx = make_context(4)
    for table in ("lineitem", "orders"):
        ctx.register_parquet(table, f"{tpch_dir / table}/")
    return ctx


def _input_scan(partitions: list[list[pa.RecordBatch]], schema: pa.Schema) -> tuple[bytes, list[ScalarUDF]]:
    memory = MemoryInput(scan_schema(schema), partitions)
    return memory.scan(), [memory.function]


def test_a_stage_reading_memory_inputs_gives_datafusion_rows(ctx: SessionContext) -> None:
    """A join stage's two hash-partitioned inputs, spliced in as memory inputs, task by task."""
    sql = """select o_orderpriority, count(*) as c, sum(l_quantity) as q
             from orders join lineitem on o_orderkey = l_orderkey
             where o_orderdate < date '1994-01-01' group by o_orderpriority"""
    stages = cut_stages(snapshot(ctx.sql(sql).execution_plan()), placeholder)
    assert any(s.output is ExchangeKind.REPARTITION for s in stages)
    got = run_by_hand(stages, scan=_input_scan)
    assert_same_result(got, ctx.sql(sql).to_arrow_table(), ordered=False)


def test_a_stream_past_the_budget_is_landed_and_mapped(tmp_path: Path) -> None:
    batches = [_batch(i * 100, 100).drop_columns(["view"]) for i in range(6)]
    schema = batches[0].schema
    first_two = batches[0].nbytes + batches[1].nbytes
    budget = InputBudget(first_two)  # two batches fit
    source = Source(reader=pa.RecordBatchReader.from_batches(schema, batches), remote=True)
    fetched = read_source(source, schema, budget, tmp_path)
    assert fetched.held == budget.held == first_two
    assert budget.landed_bytes == sum(b.nbytes for b in batches[2:])
    assert fetched.remote == sum(b.nbytes for b in batches)
    got = pa.Table.from_batches(fetched.batches)
    assert got.to_pylist() == pa.Table.from_batches(batches).to_pylist()
    assert list(tmp_path.iterdir()) == [], "the landed file is unlinked once mapped"
    budget.release(fetched.held)
    assert budget.held == 0


def test_a_failing_stream_leaves_no_file_and_no_budget(tmp_path: Path) -> None:
    schema = _batch(0, 1).schema

    def broken() -> Iterator[pa.RecordBatch]:
        yield _batch(0, 10)
        raise OSError("peer went away")

    for budget in (InputBudget(0), InputBudget(1 << 30)):  # broken while landing, or while held
        source = Source(reader=pa.RecordBatchReader.from_batches(schema, broken()), remote=True)
        with pytest.raises(OSError, match="peer went away"):
            read_source(source, schema, budget, tmp_path)
        assert list(tmp_path.iterdir()) == []
        assert budget.held == 0, "a broken stream keeps no budget"


def test_local_data_is_used_where_it_lies_and_takes_no_budget(tmp_path: Path) -> None:
    batches = [_batch(0, 50), _batch(51, 50)]  # the second with another dictionary
    schema = batches[0].schema
    path = tmp_path / "stored.arrows"
    write_ipc(path, schema, batches)  # as the shuffle store writes its partitions
    budget = InputBudget(0)
    for source in (Source(path=path), Source(reader=pa.Table.from_batches(batches).to_reader())):
        fetched = read_source(source, schema, budget, tmp_path)
        assert (
            pa.Table.from_batches(fetched.batches).to_pylist() == pa.Table.from_batches(batches).to_pylist()
        )
        assert fetched.local > 0
        assert fetched.held == fetched.remote == 0
    assert budget.held == budget.landed_bytes == 0


def _off_by_eight(array: pa.Array) -> pa.Array:
    """``array`` with its values copied to an address 8 bytes past a 16-byte boundary."""
    validity, values = array.buffers()
    room = pa.allocate_buffer(values.size + 16)
    start = 8 if room.address % 16 == 0 else 0
    memoryview(room).cast("B")[start : start + values.size] = memoryview(values).cast("B")
    moved = room.slice(start, values.size)
    return pa.Array.from_buffers(array.type, len(array), [validity, moved], offset=array.offset)


def test_decimals_off_their_boundary_are_copied_once_and_nothing_else_is() -> None:
    batch = _batch(0, 1000)
    wide = batch.schema.get_field_index("sum(t.x)")
    columns = batch.columns
    columns[wide] = _off_by_eight(columns[wide])
    shifted = pa.RecordBatch.from_arrays(columns, schema=batch.schema)
    assert shifted.column(wide).buffers()[1].address % 16 == 8
    (fixed,) = aligned_for_rust([shifted], shifted.schema)
    assert fixed.column(wide).buffers()[1].address % 16 == 0
    assert fixed.equals(batch)

    def addresses(b: pa.RecordBatch, i: int) -> list[int]:
        return [buf.address for buf in b.column(i).buffers() if buf is not None]

    for i in range(batch.num_columns):
        if i != wide:
            assert addresses(fixed, i) == addresses(shifted, i), "only the decimal column is copied"
    assert aligned_for_rust([batch], batch.schema)[0] is batch, "an aligned batch is kept as it is"


def test_coalesce_leaves_batches_holding_views_alone_even_nested() -> None:
    """Slices of one view array share its data buffers: joined, they would carry them N times."""
    views = pa.array(["a long string that is not inlined"] * 8, pa.string_view())
    nested = pa.StructArray.from_arrays([views], ["s"])
    for column in (views, nested):
        whole = pa.RecordBatch.from_arrays([column], ["c"])
        pieces = [whole.slice(i, 2) for i in range(0, 8, 2)]
        assert coalesce(pieces) == pieces
    plain = pa.RecordBatch.from_arrays([pa.array(range(8))], ["c"])
    assert [b.num_rows for b in coalesce([plain.slice(i, 2) for i in range(0, 8, 2)])] == [8]
