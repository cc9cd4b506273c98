"""Running one task: gather its shuffle inputs, splice them into the plan, execute.

The scheduler sends a stage's plan with a placeholder where each input
exchange was. The task fetches each input's partitions into memory (from the
local store, or from other executors' Flight streams, in parallel) and puts in
the placeholder's place a scan that reads those batches where they lie
(``executor.inputs``): no file, and no copy on the way in (executors' streams
arrive aligned, ``shuffle.framing``; only a decimal column lying off its 16-byte
boundary is copied, once). A decoded plan runs once, so every task decodes its own.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from datafusion import ExecutionPlan, RuntimeEnvBuilder, ScalarUDF, SessionContext

from ballista_flight.arrowtypes import holds
from ballista_flight.errors import PlanningError, TaskFailed, datafusion_message
from ballista_flight.executor.inputs import InputBudget, MemoryInput, aligned_for_rust, land
from ballista_flight.executor.metrics import plan_metrics
from ballista_flight.objectstore import process_stores
from ballista_flight.plan.protowire import replace_all, replace_submessage
from ballista_flight.plan.session import make_context, memory_scan
from ballista_flight.plan.writes import task_dir, task_url
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.shuffle.store import PartitionKey, ShuffleStore, read_mapped
from ballista_flight.udfs import load

log = logging.getLogger("ballista_flight.executor")


@dataclass
class Source:
    """Where one shuffle partition can be read: a local file, or a stream of batches."""

    reader: pa.RecordBatchReader | None = None
    path: Path | None = None
    remote: bool = False


# open(location, key) -> Source
Open = Callable[[pb.MapOutputLocation, PartitionKey], Source]


@dataclass
class TaskInputs:
    """What a task read, for its status report."""

    remote_bytes: int = 0
    local_bytes: int = 0
    remote_fetch_s: float = 0.0
    fetch_s: float = 0.0
    plan_s: float = 0.0
    # bytes of fetched input held in memory, reserved from the executor's InputBudget
    held_bytes: int = 0
    # the function reading each in-memory input -> its stage (to spot the scans in metrics)
    input_names: dict[str, int] = dataclasses.field(default_factory=dict)
    # the functions the spliced plan calls: registered in every session that decodes it
    functions: list[ScalarUDF] = dataclasses.field(default_factory=list)
    # the executed plan's operator metrics (a result task fills them once drained)
    operators: list[pb.OperatorMetrics] = dataclasses.field(default_factory=list)


def schema_from_ipc(data: bytes) -> pa.Schema:
    """Decode a schema serialized with ``pa.Schema.serialize()``."""
    return pa.ipc.read_schema(pa.py_buffer(data))


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` under ``schema``: relabelled when only names or nullability differ, else cast."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    if batch.schema.types == schema.types:
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    return batch.cast(schema)


def scan_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with repeated field names made unique.

    An exchange may carry two columns of one name (``SELECT * FROM t a JOIN t b``);
    plans address columns by position, but a table cannot have duplicate names.
    """
    seen: dict[str, int] = {}
    fields = []
    for field in schema:
        count = seen.get(field.name, 0)
        seen[field.name] = count + 1
        fields.append(field if count == 0 else field.with_name(f"{field.name}#{count}"))
    return pa.schema(fields, metadata=schema.metadata)


@dataclass
class Fetched:
    """One piece of a shuffle partition, in memory or memory-mapped, and what reading it took."""

    batches: list[pa.RecordBatch]
    remote: int = 0  # bytes that came from another executor
    remote_s: float = 0.0
    local: int = 0  # bytes read from this executor's store
    held: int = 0  # bytes reserved from the executor's input budget, given back when the task ends


def read_source(source: Source, schema: pa.Schema, budget: InputBudget, land_dir: Path) -> Fetched:
    """Every batch of ``source`` under ``schema``.

    Local data is used where it lies (a file is memory-mapped, not read). A remote
    stream is held as ``hold`` holds it.
    """
    started = time.perf_counter()
    if source.reader is None or not source.remote:
        if source.reader is not None:
            table = source.reader.read_all()
        else:
            assert source.path is not None
            table = read_mapped(source.path)
        return Fetched(_usable([_conform(b, schema) for b in table.to_batches()], schema), local=table.nbytes)
    batches, held = hold(source.reader, schema, budget, land_dir)
    remote = sum(b.nbytes for b in batches)
    return Fetched(_usable(batches, schema), remote=remote, remote_s=time.perf_counter() - started, held=held)


def hold(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, budget: InputBudget, land_dir: Path
) -> tuple[list[pa.RecordBatch], int]:
    """``batches`` under ``schema``, kept in memory while ``budget`` allows, and the bytes reserved.

    Past the budget the rest of the stream goes to a file under ``land_dir``, read back
    memory-mapped, so a task never holds more than its share. If the stream breaks,
    nothing of it is kept and its reservation is given back.
    """
    conformed = (_conform(b, schema) for b in batches)
    kept: list[pa.RecordBatch] = []
    held = 0
    try:
        for batch in conformed:
            if budget.reserve(batch.nbytes):
                held += batch.nbytes
                kept.append(batch)
                continue
            path = land_dir / f"{uuid.uuid4().hex}.arrows"
            landed = land(itertools.chain([batch], conformed), schema, path)
            budget.landed(landed.nbytes)
            kept.extend(landed.to_batches())
            break
    except BaseException:
        budget.release(held)
        raise
    return kept, held


def _usable(batches: list[pa.RecordBatch], schema: pa.Schema) -> list[pa.RecordBatch]:
    """The non-empty ones of ``batches`` (already under ``schema``), small neighbours joined,
    decimals aligned."""
    return aligned_for_rust(coalesce_small([b for b in batches if b.num_rows]), schema)


def _fetch(
    schema: pa.Schema, loc: pb.MapOutputLocation, key: PartitionKey, open_source: Open, worker: Worker
) -> Fetched:
    started = time.perf_counter()
    source = open_source(loc, key)
    opened = time.perf_counter() - started
    fetched = read_source(source, schema, worker.inputs, worker.land_dir)
    if source.remote:
        fetched.remote_s += opened
    return fetched


def in_memory(
    schema: pa.Schema, partitions: list[list[pa.RecordBatch]], stats: TaskInputs, stage_id: int | None = None
) -> bytes:
    """Plan bytes of a scan of ``partitions`` where they lie; the reading function goes to ``stats``.

    ``stage_id`` names the stage that produced them, for metrics (none: the task's own rows).
    """
    if not len(schema):
        # No columns, only row counts: the batches are nothing to carry in the plan itself.
        return memory_scan(partitions, schema)
    memory = MemoryInput(schema, partitions)
    stats.functions.append(memory.function)
    if stage_id is not None:
        stats.input_names[memory.name] = stage_id
    return memory.scan()


def _splice_inputs(
    task: pb.TaskTicket, open_source: Open, pool: ThreadPoolExecutor, worker: Worker, stats: TaskInputs
) -> bytes:
    """The stage plan with every input placeholder replaced by a scan of its data."""
    plan = task.plan
    for inp in task.inputs:
        live = [loc for loc in inp.locations if not loc.empty]
        if not live or not inp.schema:
            # Every producer was empty: run the exchange's own (empty) subtree.
            plan = replace_submessage(plan, inp.placeholder, inp.original)
            continue
        schema = scan_schema(schema_from_ipc(inp.schema))
        started = time.perf_counter()
        futures = []
        # A hash partition has one piece per producer, fetched in parallel and read in
        # producer order; a merged partition is one producer's output.
        for part in inp.read_partitions:
            if inp.kind == pb.OUTPUT_REPARTITION:
                for loc in live:
                    key = PartitionKey(task.job_id, inp.stage_id, loc.map_partition, part)
                    futures.append((part, pool.submit(_fetch, schema, loc, key, open_source, worker)))
            else:
                loc = inp.locations[part]
                if not loc.empty:
                    key = PartitionKey(task.job_id, inp.stage_id, part, 0)
                    futures.append((part, pool.submit(_fetch, schema, loc, key, open_source, worker)))
        partitions: list[list[pa.RecordBatch]] = [[] for _ in range(inp.partitions)]
        error: BaseException | None = None
        for part, future in futures:  # every one, so that what each reserved is counted
            try:
                fetched = future.result()
            except BaseException as exc:
                error = error or exc
                continue
            partitions[part].extend(fetched.batches)
            stats.remote_bytes += fetched.remote
            stats.remote_fetch_s += fetched.remote_s
            stats.local_bytes += fetched.local
            stats.held_bytes += fetched.held
        if error is not None:
            raise error
        stats.fetch_s += time.perf_counter() - started
        plan = replace_submessage(plan, inp.placeholder, in_memory(schema, partitions, stats, inp.stage_id))
    return plan


def decode(ctx: SessionContext, plan: bytes) -> ExecutionPlan:
    """Decode plan bytes, translating DataFusion's errors."""
    try:
        return ExecutionPlan.from_bytes(ctx, plan)
    except Exception as exc:
        msg = f"cannot decode task plan: {datafusion_message(exc)}"
        raise PlanningError(msg) from exc


def execute(ctx: SessionContext, plan: ExecutionPlan, partition: int) -> Iterator[pa.RecordBatch]:
    """Run one partition of ``plan``, yielding non-empty pyarrow batches."""
    try:
        for batch in ctx.execute(plan, partition):
            out = batch.to_pyarrow()
            if out.num_rows:
                yield out
    except Exception as exc:
        raise TaskFailed(datafusion_message(exc)) from exc


@dataclass(frozen=True)
class Worker:
    """The executor a task runs on: its id, and how much memory DataFusion may use per task."""

    executor_id: str
    # Bytes of DataFusion working memory per task (sorts, aggregates and joins spill past
    # it, or fail with "Resources exhausted" when they cannot); 0 leaves DataFusion unbounded.
    task_memory: int
    spill_dir: Path
    # fetched input held in memory, and where inputs past it are landed
    inputs: InputBudget
    land_dir: Path

    def context(self, task: pb.TaskTicket, inputs: TaskInputs | None = None) -> SessionContext:
        """A fresh session for one plan of the task, with the task's Python functions registered.

        Plans name UDFs; code inlined in plan bytes is refused (it only ever comes
        in the task's own, signed, function list). ``inputs`` adds the functions that
        read the task's in-memory inputs.
        """
        settings = dict(task.settings)
        target = int(settings.pop("datafusion.execution.target_partitions", "1"))
        runtime = None
        if self.task_memory > 0:
            runtime = (
                RuntimeEnvBuilder().with_fair_spill_pool(self.task_memory).with_temp_file_path(self.spill_dir)
            )
        ctx = make_context(target, settings, runtime).with_python_udf_inlining(enabled=False)
        if task.object_stores:
            process_stores().register(ctx, task.object_stores)
        if task.functions:
            load(ctx, list(task.functions), self.executor_id)
        for function in inputs.functions if inputs is not None else ():
            ctx.register_udf(function)
        return ctx


def prepare_plan(
    task: pb.TaskTicket, open_source: Open, pool: ThreadPoolExecutor, worker: Worker
) -> tuple[bytes, TaskInputs]:
    """Fetch the task's inputs; return its plan bytes with them spliced in.

    The caller gives back ``stats.held_bytes`` (``worker.inputs.release``) when the task ends.
    """
    stats = TaskInputs()
    started = time.perf_counter()
    try:
        plan = _splice_inputs(task, open_source, pool, worker, stats)
    except BaseException:
        worker.inputs.release(stats.held_bytes)
        raise
    stats.plan_s = time.perf_counter() - started - stats.fetch_s
    return plan, stats


def run_shuffle_task(
    task: pb.TaskTicket,
    open_source: Open,
    pool: ThreadPoolExecutor,
    store: ShuffleStore,
    worker: Worker,
) -> pb.TaskStatus:
    """Run a map task and keep its output in ``store``, bucketed for its consumer."""
    started = time.perf_counter()
    stats = TaskInputs()
    try:
        plan_bytes, stats = prepare_plan(task, open_source, pool, worker)
        status = pb.TaskStatus(
            job_id=task.job_id,
            stage_id=task.stage_id,
            partition=task.partition,
            executor_id=worker.executor_id,
            bytes_fetched_remote=stats.remote_bytes,
            bytes_read_local=stats.local_bytes,
            remote_fetch_s=stats.remote_fetch_s,
            fetch_s=stats.fetch_s,
            plan_s=stats.plan_s,
        )
        if task.output == pb.OUTPUT_MERGE:
            _run_merge_output(task, plan_bytes, store, status, stats, worker)
        elif task.output == pb.OUTPUT_REPARTITION:
            _run_repartition_output(task, plan_bytes, store, status, stats, worker)
        elif task.output == pb.OUTPUT_WRITE:
            _run_write_output(task, plan_bytes, status, stats, worker)
        else:
            msg = f"task output kind {task.output} is not a shuffle"
            raise TaskFailed(msg)
    finally:
        worker.inputs.release(stats.held_bytes)
    # A write keeps no shuffle output: nothing to fetch, nothing to recompute if we are lost.
    status.empty = status.rows == 0 or task.output == pb.OUTPUT_WRITE
    if status.empty:
        status.ClearField("schema")
    status.elapsed_s = time.perf_counter() - started
    return status


def _run_partitions(
    task: pb.TaskTicket,
    plan_bytes: bytes,
    partitions: list[int],
    status: pb.TaskStatus,
    stats: TaskInputs,
    worker: Worker,
) -> list[list[pa.RecordBatch]]:
    """Run ``partitions`` of the task's stage plan, each one's batches; note time and metrics.

    Several partitions run at once, as DataFusion runs them in one process (each stream
    releases the GIL while it computes); one after another would use one core.
    """
    ctx = worker.context(task, stats)
    executed = time.perf_counter()
    plan = decode(ctx, plan_bytes)
    if len(partitions) < 2:
        outputs = [list(execute(ctx, plan, p)) for p in partitions]
    else:
        with ThreadPoolExecutor(max_workers=len(partitions), thread_name_prefix="part") as threads:
            outputs = list(threads.map(lambda p: list(execute(ctx, plan, p)), partitions))
    status.execute_s = time.perf_counter() - executed
    status.operators.extend(plan_metrics(plan, stats.input_names))
    return outputs


def _run_partition(
    task: pb.TaskTicket, plan_bytes: bytes, status: pb.TaskStatus, stats: TaskInputs, worker: Worker
) -> list[pa.RecordBatch]:
    """The batches of the partitions the task owns: its own, or a whole-stage task's slice."""
    owned = list(task.run_partitions) or [task.partition]
    outputs = _run_partitions(task, plan_bytes, owned, status, stats, worker)
    return [batch for batches in outputs for batch in batches]


def _run_merge_output(
    task: pb.TaskTicket,
    plan_bytes: bytes,
    store: ShuffleStore,
    status: pb.TaskStatus,
    stats: TaskInputs,
    worker: Worker,
) -> None:
    if task.all_partitions:
        _run_merge_outputs(task, plan_bytes, store, status, stats, worker)
        return
    batches = _run_partition(task, plan_bytes, status, stats, worker)
    if batches:
        schema = batches[0].schema
        status.schema = schema.serialize().to_pybytes()
        status.rows = sum(b.num_rows for b in batches)
        status.bytes = store.put(PartitionKey(task.job_id, task.stage_id, task.partition, 0), schema, batches)
        status.bucket_rows.append(status.rows)


def _run_merge_outputs(
    task: pb.TaskTicket,
    plan_bytes: bytes,
    store: ShuffleStore,
    status: pb.TaskStatus,
    stats: TaskInputs,
    worker: Worker,
) -> None:
    """A single task running every partition of its stage: each partition is one output.

    The stage holds a join that emits rows only once all its probe partitions ran in this
    one plan instance (semi, anti, outer); its consumer reads partition ``p`` as map output
    ``p`` (``map_rows`` says which hold rows).
    """
    outputs = _run_partitions(task, plan_bytes, list(range(task.stage_partitions)), status, stats, worker)
    schema = next((batches[0].schema for batches in outputs if batches), None)
    if schema is None:
        return
    for partition, batches in enumerate(outputs):
        rows = sum(b.num_rows for b in batches)
        if rows:
            key = PartitionKey(task.job_id, task.stage_id, partition, 0)
            status.bytes += store.put(key, schema, batches)
        status.map_rows.append(rows)
        status.rows += rows
    status.schema = schema.serialize().to_pybytes()
    status.bucket_rows.append(status.rows)


def _run_repartition_output(
    task: pb.TaskTicket,
    plan_bytes: bytes,
    store: ShuffleStore,
    status: pb.TaskStatus,
    stats: TaskInputs,
    worker: Worker,
) -> None:
    whole = task.whole_stage or task.all_partitions
    if whole:
        # Inputs hold only this task's share (or the task runs the whole stage):
        # run every partition straight into the partitioner.
        partitioner = replace_submessage(task.partitioner, task.output_placeholder, plan_bytes)
    else:
        batches = _run_partition(task, plan_bytes, status, stats, worker)
        if not batches:
            return
        produced = scan_schema(batches[0].schema)
        scan = in_memory(produced, [[_conform(b, produced) for b in batches]], stats)
        del batches
        partitioner = replace_submessage(task.partitioner, task.output_placeholder, scan)
    ctx = worker.context(task, stats)
    plan = decode(ctx, partitioner)
    partitioned = time.perf_counter()
    schema: pa.Schema | None = None
    outputs: list[list[pa.RecordBatch]] = []
    for bucket in range(task.buckets):
        out = coalesce(list(execute(ctx, plan, bucket)))
        if out and schema is None:
            schema = out[0].schema
        outputs.append(out)
    if whole:  # the stage plan ran inside the partitioner: report it without the partitioner
        status.operators.extend(plan_metrics(plan, stats.input_names, skip_root=True))
    if schema is None:
        status.partition_s = time.perf_counter() - partitioned
        return
    for bucket, out in enumerate(outputs):
        status.bytes += store.put(
            PartitionKey(task.job_id, task.stage_id, task.partition, bucket), schema, out
        )
        rows = sum(b.num_rows for b in out)
        status.bucket_rows.append(rows)
        status.rows += rows
    status.schema = schema.serialize().to_pybytes()
    status.map_rows.append(status.rows)
    status.partition_s = time.perf_counter() - partitioned


def _run_write_output(
    task: pb.TaskTicket,
    plan_bytes: bytes,
    status: pb.TaskStatus,
    stats: TaskInputs,
    worker: Worker,
) -> None:
    """Write the task's rows with the job's DataSinkExec into this attempt's own directory.

    A DataSinkExec writes partition 0 of its input. A whole-stage task's plan holds
    only its own rows, so it goes under the sink through a coalesce; otherwise the
    task's partitions are run and their rows held as fetched input is (in memory under
    the executor's input budget, landed past it), then read by the sink as one partition.
    """
    if task.sink_whole:
        sink_plan = replace_submessage(task.sink_whole, task.output_placeholder, plan_bytes)
        _write(task, sink_plan, status, worker.context(task, stats))
        return
    ctx = worker.context(task, stats)
    plan = decode(ctx, plan_bytes)
    partitions = range(task.stage_partitions) if task.all_partitions else [task.partition]
    executed = time.perf_counter()
    batches = (batch for partition in partitions for batch in execute(ctx, plan, partition))
    first = next(batches, None)
    if first is None:
        status.execute_s = time.perf_counter() - executed
        return  # no rows: nothing to write
    schema = scan_schema(first.schema)
    held, reserved = hold(itertools.chain([first], batches), schema, worker.inputs, worker.land_dir)
    stats.held_bytes += reserved
    status.execute_s = time.perf_counter() - executed
    scan = TaskInputs()  # the sink's session reads the rows; the stage's functions stay in its own
    _write(
        task,
        replace_submessage(
            task.sink, task.output_placeholder, in_memory(schema, [_usable(held, schema)], scan)
        ),
        status,
        worker.context(task, scan),
    )


def _write(task: pb.TaskTicket, sink_plan: bytes, status: pb.TaskStatus, ctx: SessionContext) -> None:
    """Run a DataSinkExec, its target moved to this attempt's directory; record the rows written."""
    written = time.perf_counter()
    name = task_dir(task.partition, task.attempt, status.executor_id)
    url = task_url(task.write_dir, name, task.sink_url, task.single_file)
    sink_plan = replace_all(sink_plan, task.sink_url.encode(), url.encode())
    counts = list(execute(ctx, decode(ctx, sink_plan), 0))
    status.rows = sum(int(v.as_py() or 0) for b in counts for v in b.column(0))
    if status.rows:
        status.written_dir = f"{task.write_dir}{name}/"
    status.partition_s = time.perf_counter() - written


# Batches a map task keeps: about the cluster's batch size, and a few MiB at most. Flight,
# IPC and DataFusion pay per batch, but loopback Flight moves 1.5-4 MB messages fastest
# (9 lineitem columns, 576 MB: 16-32 Ki-row batches 0.24-0.25 s, 64 Ki rows 0.28 s).
COALESCE_ROWS = 32768
COALESCE_BYTES = 4 << 20


def coalesce(
    batches: list[pa.RecordBatch], target_rows: int = COALESCE_ROWS, target_bytes: int = COALESCE_BYTES
) -> list[pa.RecordBatch]:
    """Concatenate runs of small batches (a RepartitionExec splits each input batch N ways).

    A run ends at ``target_rows`` rows or ``target_bytes`` bytes. Batches holding view
    columns (nested ones too) are left alone: their slices share data buffers, and
    concatenating them would carry those buffers several times.
    """
    if len(batches) < 2 or any(holds(t, _is_view) for t in batches[0].schema.types):
        return batches
    out: list[pa.RecordBatch] = []
    group: list[pa.RecordBatch] = []
    rows = nbytes = 0
    for batch in batches:
        group.append(batch)
        rows += batch.num_rows
        nbytes += batch.nbytes
        if rows >= target_rows or nbytes >= target_bytes:
            out.append(group[0] if len(group) == 1 else pa.concat_batches(group))
            group, rows, nbytes = [], 0, 0
    if group:
        out.append(group[0] if len(group) == 1 else pa.concat_batches(group))
    return out


def _is_view(type_: pa.DataType) -> bool:
    return bool(pa.types.is_string_view(type_) or pa.types.is_binary_view(type_))


# A fetched batch under this many rows is joined with its small neighbours: each batch
# costs a call of the input's function, and joining small ones copies little.
SMALL_ROWS = 4096


def coalesce_small(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    """``batches`` with runs of small ones concatenated and the others left as they are."""
    out: list[pa.RecordBatch] = []
    small: list[pa.RecordBatch] = []
    for batch in batches:
        if batch.num_rows < SMALL_ROWS:
            small.append(batch)
            continue
        out.extend(coalesce(small))
        small = []
        out.append(batch)
    out.extend(coalesce(small))
    return out


def run_result_task(
    task: pb.TaskTicket, open_source: Open, pool: ThreadPoolExecutor, worker: Worker
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], TaskInputs]:
    """Prepare a final-stage task; the caller streams the returned batches.

    The task's inputs are given back to the budget when the batches are drained, or
    when the iterator is dropped unstarted or half-read (a client that went away).
    """
    schema = schema_from_ipc(task.result_schema)
    plan_bytes, stats = prepare_plan(task, open_source, pool, worker)
    try:
        ctx = worker.context(task, stats)
        plan = decode(ctx, plan_bytes)
    except BaseException:
        worker.inputs.release(stats.held_bytes)
        raise
    partitions = range(task.stage_partitions) if task.all_partitions else [task.partition]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for partition in partitions:
                for batch in execute(ctx, plan, partition):
                    yield _conform(batch, schema)
            stats.operators = plan_metrics(plan, stats.input_names)
        finally:
            release()

    stream = batches()
    # A finalizer runs its callback once at most: here when the batches are drained, or when
    # the stream is dropped (collected) unstarted or half-read.
    release = weakref.finalize(stream, worker.inputs.release, stats.held_bytes)
    return schema, stream, stats


def run_analyze_task(
    task: pb.TaskTicket, open_source: Open, pool: ThreadPoolExecutor, worker: Worker
) -> pb.TaskStatus:
    """EXPLAIN ANALYZE of a final-stage task: run it, count and drop its rows, report metrics."""
    started = time.perf_counter()
    _, batches, stats = run_result_task(task, open_source, pool, worker)
    executed = time.perf_counter()
    rows = 0
    for batch in batches:
        rows += batch.num_rows
    return pb.TaskStatus(
        job_id=task.job_id,
        stage_id=task.stage_id,
        partition=task.partition,
        executor_id=worker.executor_id,
        rows=rows,
        empty=rows == 0,
        bytes_fetched_remote=stats.remote_bytes,
        bytes_read_local=stats.local_bytes,
        remote_fetch_s=stats.remote_fetch_s,
        fetch_s=stats.fetch_s,
        plan_s=stats.plan_s,
        execute_s=time.perf_counter() - executed,
        elapsed_s=time.perf_counter() - started,
        operators=stats.operators,
    )
