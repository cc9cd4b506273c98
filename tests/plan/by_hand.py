"""Running a cut plan's stages by hand, without servers: the planner's contract in one function."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
from datafusion import ExecutionPlan, ScalarUDF, SessionContext

from ballista_flight.plan.protowire import replace_submessage
from ballista_flight.plan.session import make_context, memory_scan
from ballista_flight.plan.stages import ExchangeKind, Stage

# scan(partitions, schema) -> the plan bytes reading those partitions, and the functions they call
Scan = Callable[[list[list[pa.RecordBatch]], pa.Schema], tuple[bytes, list[ScalarUDF]]]


def embedded(partitions: list[list[pa.RecordBatch]], schema: pa.Schema) -> tuple[bytes, list[ScalarUDF]]:
    """A memory scan carrying its batches in the plan bytes."""
    return memory_scan(partitions, schema), []


def run_by_hand(stages: list[Stage], scan: Scan = embedded) -> pa.Table:
    """Splice every input with ``scan``, decode, execute partition by partition; the result's rows."""
    outputs: dict[int, dict[int, dict[int, list[pa.RecordBatch]]]] = {}
    result: list[pa.RecordBatch] = []
    for stage in stages:
        outputs[stage.stage_id] = {}
        for p in range(stage.partitions):
            plan, functions = stage.plan, []
            for inp in stage.inputs:
                produced = outputs[inp.stage_id]
                parts: list[list[pa.RecordBatch]] = [[] for _ in range(inp.partitions)]
                for j in stage.reads[p].get(inp.stage_id, []):
                    if inp.kind is ExchangeKind.REPARTITION:
                        parts[j] = [b for t in produced.values() for b in t.get(j, [])]
                    else:
                        parts[j] = produced[j].get(0, [])
                schema = next(b.schema for t in produced.values() for bs in t.values() for b in bs)
                data, called = scan(parts, schema)
                plan = replace_submessage(plan, inp.placeholder, data)
                functions += called
            task_ctx = _context(functions)
            batches = [b.to_pyarrow() for b in task_ctx.execute(ExecutionPlan.from_bytes(task_ctx, plan), p)]
            batches = [b for b in batches if b.num_rows]
            if stage.output is ExchangeKind.RESULT:
                result += batches
            elif stage.output is ExchangeKind.MERGE:
                outputs[stage.stage_id][p] = {0: batches}
            elif batches:
                data, called = scan([batches], batches[0].schema)
                part_plan = replace_submessage(stage.partitioner, stage.output_placeholder, data)
                pctx = _context(called)
                decoded = ExecutionPlan.from_bytes(pctx, part_plan)
                outputs[stage.stage_id][p] = {
                    j: [b.to_pyarrow() for b in pctx.execute(decoded, j)] for j in range(stage.buckets)
                }
    return pa.Table.from_batches(result)


def _context(functions: list[ScalarUDF]) -> SessionContext:
    ctx = make_context(4)
    for function in functions:
        ctx.register_udf(function)
    return ctx
