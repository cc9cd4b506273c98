"""Running one task: gather its shuffle inputs, splice them into the plan, execute.

The scheduler sends a stage's plan with a placeholder where each input
exchange was. Here each placeholder becomes an in-memory scan holding exactly
the partitions this task reads (fetched from the local store or from other
executors over Flight), the plan is decoded fresh (a decoded plan runs once),
and partition ``task.partition`` of it is executed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
from datafusion import ExecutionPlan, SessionContext

from ballista_flight.errors import PlanningError, TaskFailed, datafusion_message
from ballista_flight.plan.protowire import replace_submessage
from ballista_flight.plan.session import make_context, memory_scan
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.shuffle.store import PartitionKey, ShuffleStore

log = logging.getLogger("ballista_flight.executor")

# fetch(location, job_id, stage_id, map_partition, bucket) -> (schema, batches, remote bytes)
Fetch = Callable[[pb.MapOutputLocation, str, int, int, int], tuple[pa.Schema, list[pa.RecordBatch], int]]


@dataclass
class TaskInputs:
    """What a task read, for its status report."""

    remote_bytes: int = 0
    local_bytes: int = 0
    rows: int = 0
    fetches: list[tuple[int, int, int]] = field(default_factory=list)


def schema_from_ipc(data: bytes) -> pa.Schema:
    """Decode a schema serialized with ``pa.Schema.serialize()``."""
    return pa.ipc.read_schema(pa.py_buffer(data))


def _fetch_all(task: pb.TaskTicket, fetch: Fetch, pool: ThreadPoolExecutor, stats: TaskInputs) -> bytes:
    """The stage plan with every input placeholder replaced by its data."""
    plan = task.plan
    for inp in task.inputs:
        live = [loc for loc in inp.locations if not loc.empty]
        if not live or not inp.schema:
            # Every producer was empty: run the exchange's own (empty) subtree.
            plan = replace_submessage(plan, inp.placeholder, inp.original)
            continue
        schema = schema_from_ipc(inp.schema)
        requests: list[tuple[int, pb.MapOutputLocation, int, int]] = []
        for part in inp.read_partitions:
            if inp.kind == pb.OUTPUT_REPARTITION:
                requests.extend((part, loc, loc.map_partition, part) for loc in live)
            else:
                loc = inp.locations[part]
                if not loc.empty:
                    requests.append((part, loc, part, 0))
        futures = [
            (part, pool.submit(fetch, loc, task.job_id, inp.stage_id, mp, bucket))
            for part, loc, mp, bucket in requests
        ]
        partitions: list[list[pa.RecordBatch]] = [[] for _ in range(inp.partitions)]
        for part, future in futures:
            _, batches, remote = future.result()
            stats.remote_bytes += remote
            partitions[part].extend(_conform(b, schema) for b in batches)
        stats.rows += sum(b.num_rows for p in partitions for b in p)
        plan = replace_submessage(plan, inp.placeholder, memory_scan(partitions, schema))
    return plan


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    return pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def decode(ctx: SessionContext, plan: bytes) -> ExecutionPlan:
    """Decode plan bytes, translating DataFusion's errors."""
    try:
        return ExecutionPlan.from_bytes(ctx, plan)
    except Exception as exc:
        msg = f"cannot decode task plan: {datafusion_message(exc)}"
        raise PlanningError(msg) from exc


def execute(ctx: SessionContext, plan: ExecutionPlan, partition: int) -> Iterator[pa.RecordBatch]:
    """Run one partition of ``plan``, yielding pyarrow batches."""
    try:
        for batch in ctx.execute(plan, partition):
            yield batch.to_pyarrow()
    except Exception as exc:
        msg = datafusion_message(exc)
        raise TaskFailed(msg) from exc


def _context(task: pb.TaskTicket) -> SessionContext:
    settings = dict(task.settings)
    target = int(settings.pop("datafusion.execution.target_partitions", "1"))
    return make_context(target, settings)


def prepare(
    task: pb.TaskTicket, fetch: Fetch, pool: ThreadPoolExecutor
) -> tuple[SessionContext, ExecutionPlan, TaskInputs]:
    """Fetch inputs and decode the task's plan."""
    stats = TaskInputs()
    plan_bytes = _fetch_all(task, fetch, pool, stats)
    ctx = _context(task)
    return ctx, decode(ctx, plan_bytes), stats


def run_shuffle_task(
    task: pb.TaskTicket,
    fetch: Fetch,
    pool: ThreadPoolExecutor,
    store: ShuffleStore,
    executor_id: str,
) -> pb.TaskStatus:
    """Run a map task and keep its output in ``store``, bucketed for its consumer."""
    started = time.perf_counter()
    ctx, plan, stats = prepare(task, fetch, pool)
    batches = [b for b in execute(ctx, plan, task.partition) if b.num_rows]
    status = pb.TaskStatus(
        job_id=task.job_id,
        stage_id=task.stage_id,
        partition=task.partition,
        executor_id=executor_id,
        bytes_fetched_remote=stats.remote_bytes,
    )
    if not batches:
        status.empty = True
        status.elapsed_s = time.perf_counter() - started
        return status
    schema = batches[0].schema
    status.schema = schema.serialize().to_pybytes()
    status.rows = sum(b.num_rows for b in batches)
    if task.output == pb.OUTPUT_MERGE:
        key = PartitionKey(task.job_id, task.stage_id, task.partition, 0)
        status.bytes = store.put(key, schema, batches)
        status.bucket_rows.append(status.rows)
    elif task.output == pb.OUTPUT_REPARTITION:
        partitioner = replace_submessage(
            task.partitioner, task.output_placeholder, memory_scan([batches], schema)
        )
        pctx = _context(task)
        pplan = decode(pctx, partitioner)
        for bucket in range(task.buckets):
            out = [b for b in execute(pctx, pplan, bucket) if b.num_rows]
            key = PartitionKey(task.job_id, task.stage_id, task.partition, bucket)
            status.bytes += store.put(key, schema, out)
            status.bucket_rows.append(sum(b.num_rows for b in out))
    else:
        msg = f"task output kind {task.output} is not a shuffle"
        raise TaskFailed(msg)
    status.elapsed_s = time.perf_counter() - started
    return status


def run_result_task(
    task: pb.TaskTicket, fetch: Fetch, pool: ThreadPoolExecutor
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], TaskInputs]:
    """Prepare a final-stage task; the caller streams the returned batches."""
    schema = schema_from_ipc(task.result_schema)
    ctx, plan, stats = prepare(task, fetch, pool)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in execute(ctx, plan, task.partition):
            if batch.num_rows:
                yield _conform_result(batch, schema)

    return schema, batches(), stats


def _conform_result(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    if batch.schema.types == schema.types:
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    return batch.cast(schema)
