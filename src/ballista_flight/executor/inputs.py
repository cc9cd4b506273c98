"""Shuffle input handed to a decoded plan in memory, without a file.

A task's plan reads each shuffle input where the scheduler left a placeholder,
and plans are bytes: DataFusion's Python API has no scan of Python objects
that survives encoding, except a memory scan that copies its batches into the
plan bytes (five times a file's cost, ``benchmarks/landing.py``). Landing the
input in an Arrow IPC file costs a kernel copy of every fetched byte, and
DataFusion's read of that file another.

So the placeholder becomes a tiny plan that asks a function of the task for
its batches: a memory scan of *tokens*, one token batch per data batch and as
long as it, partitioned as the consumer reads them; a scalar function turning
each token batch into its data batch as a struct column; ``UnnestExec``
spreading the struct into columns; and a projection naming them. A token batch
is a run-end encoded column holding one value, the batch's number: a few bytes
in the plan, whatever its length. DataFusion hands the function slices of it no
longer than the session's batch size, and the function answers each with the
same slice of the batch. The function is registered by name in the task's
session before the plan is decoded. The batches stay where Flight or the
shuffle store put them: executors' streams arrive with their buffers aligned
(``shuffle.framing``), so nothing on the way in is copied.

Fetched batches held in memory count against the executor's ``InputBudget``
(``--input-memory-limit``); a stream arriving past it is written to a file and
memory-mapped, so an input larger than memory lives in the page cache, which the
kernel can write out, and is read through the same scan.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

import pyarrow as pa
from datafusion import ScalarUDF, SessionConfig, SessionContext, col, udf
from pyarrow import flight

from ballista_flight.arrowtypes import holds
from ballista_flight.errors import TaskFailed
from ballista_flight.shuffle.store import read_mapped, write_ipc

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# Fetches ask pyarrow to align what it receives: DataFusion (arrow-rs) copies a misaligned
# buffer whole each time a slice of it crosses into Rust; aligned once on arrival, every
# slice crosses as it is. Executors pad their streams so that their bodies arrive aligned
# (``shuffle.framing``) and this finds nothing to copy; it still guards any other sender.
FETCH_OPTIONS = flight.FlightCallOptions(
    read_options=pa.ipc.IpcReadOptions(ensure_alignment=pa.ipc.Alignment.DataTypeSpecific)
)

# arrow-rs keeps 16-byte values (decimals: i128, i256) on 16-byte boundaries; pyarrow's
# alignment check above asks only 8 of them.
_WIDE_ALIGNMENT = 16


def _is_wide(type_: pa.DataType) -> bool:
    """Whether ``type_``'s values are ones arrow-rs wants 16-byte aligned."""
    return bool(pa.types.is_decimal128(type_) or pa.types.is_decimal256(type_))


def _off_boundary(array: pa.Array) -> bool:
    """Whether ``array``'s values (any buffer, nested) lie off 16-byte boundaries."""
    buffers = array.buffers()
    if pa.types.is_decimal(array.type):
        buffers = buffers[1:]  # the validity bitmap is read a byte at a time
    return any(buf is not None and buf.size and buf.address % _WIDE_ALIGNMENT for buf in buffers)


def aligned_for_rust(batches: list[pa.RecordBatch], schema: pa.Schema) -> list[pa.RecordBatch]:
    """``batches`` with each column of 16-byte values that lies 8 bytes off its boundary copied.

    arrow-rs would copy such a buffer whole every time a slice of it crossed into Rust, once
    per batch-size slice of it; here it is copied once. IPC bodies (an IPC file memory-mapped,
    a Flight stream) align buffers on 8 bytes; the executors' streams and round batch sizes
    keep most decimals on 16 (``shuffle.framing``).
    """
    wide = [i for i, field in enumerate(schema) if holds(field.type, _is_wide)]
    if not wide:
        return batches
    out = []
    for batch in batches:
        columns = batch.columns
        copied = False
        for i in wide:
            if _off_boundary(columns[i]):
                columns[i] = pa.concat_arrays([columns[i]])
                copied = True
        out.append(pa.RecordBatch.from_arrays(columns, schema=batch.schema) if copied else batch)
    return out


TOKEN = pa.run_end_encoded(pa.int32(), pa.int64())
_TOKENS = pa.schema([pa.field("token", TOKEN)])


def _tokens(token: int, rows: int) -> pa.RecordBatch:
    """A token batch: ``rows`` rows, every one ``token``, in one run (none for no rows)."""
    ends, values = ([rows], [token]) if rows else ([], [])
    run = pa.RunEndEncodedArray.from_arrays(pa.array(ends, pa.int32()), pa.array(values, pa.int64()))
    return pa.record_batch([run], schema=_TOKENS)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class MemoryInput:
    """One shuffle input of a task: its batches per consumer partition, and the plan that reads them."""

    def __init__(self, schema: pa.Schema, partitions: list[list[pa.RecordBatch]]) -> None:
        # Unique per input, so several inputs of one task (and their different types) coexist.
        self.name = f"__ballista_flight_input_{uuid.uuid4().hex[:12]}"
        self.schema = schema
        self._fields = list(schema)
        self._type = pa.struct(self._fields)
        self._batches: list[pa.RecordBatch | None] = [b for batches in partitions for b in batches]
        self._rows = [b.num_rows for batches in partitions for b in batches]
        self._tokens: list[list[int]] = []  # per partition, the numbers of its batches
        first = 0
        for batches in partitions:
            self._tokens.append(list(range(first, first + len(batches))))
            first += len(batches)
        self._handed = [0] * len(self._batches)  # rows of each batch handed over so far
        self._lock = threading.Lock()
        self.function: ScalarUDF = udf(self._read, [TOKEN], self._type, "volatile", name=self.name)

    @property
    def partitions(self) -> int:
        """Partitions the scan has (the consumer's partitions of this input)."""
        return len(self._tokens)

    def _read(self, tokens: pa.Array) -> pa.Array:
        """The rows of a batch that a slice of its token batch stands for; a batch is let go once handed over."""
        rows = len(tokens)
        if not rows:
            return pa.array([], type=self._type)
        values = tokens.values  # type: ignore[attr-defined]
        if len(values) != 1:
            msg = f"a shuffle input token slice spans {len(values)} batches"
            raise TaskFailed(msg)
        token, offset = values[0].as_py(), tokens.offset
        with self._lock:
            batch = self._batches[token]
            if batch is None or self._handed[token] != offset:
                msg = f"shuffle input batch {token} read out of order (rows {offset}+{rows})"
                raise TaskFailed(msg)
            self._handed[token] += rows
            if self._handed[token] >= self._rows[token]:
                self._batches[token] = None
        part = batch.slice(offset, rows)
        return pa.StructArray.from_arrays(part.columns, fields=self._fields)

    def scan(self) -> bytes:
        """Plan bytes of the scan, one partition per consumer partition; decode with ``function`` registered."""
        settings = {
            "datafusion.optimizer.enable_round_robin_repartition": "false",
            "datafusion.optimizer.repartition_file_scans": "false",
        }
        config = SessionConfig(settings).with_target_partitions(max(1, self.partitions))
        ctx = SessionContext(config).with_python_udf_inlining(enabled=False)
        ctx.register_udf(self.function)
        ctx.register_record_batches(
            "tokens",
            [
                [_tokens(token, self._rows[token]) for token in tokens] or [_tokens(-1, 0)]
                for tokens in self._tokens
            ],
        )
        # The struct column takes the function's name, so the projection on top (which
        # metrics report as the scan) names it too.
        frame = ctx.table("tokens").select(self.function(col("token")).alias(self.name))
        frame = frame.unnest_columns(self.name)
        unnested = frame.schema().names
        frame = frame.select(
            *[
                col(_quoted(column)).alias(name)
                for column, name in zip(unnested, self.schema.names, strict=True)
            ]
        )
        plan = frame.execution_plan()
        if plan.partition_count != self.partitions:
            msg = f"shuffle input scan has {plan.partition_count} partitions, expected {self.partitions}"
            raise TaskFailed(msg)
        return bytes(plan.to_bytes(ctx))


class InputBudget:
    """Bytes of fetched input that the running tasks of one executor hold in memory, under a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.held = 0
        self.landed_bytes = 0  # fetched bytes written to files because the budget was spent

    def reserve(self, nbytes: int) -> bool:
        """Take ``nbytes`` of the budget if they fit."""
        with self._lock:
            if self.held + nbytes > self.limit:
                return False
            self.held += nbytes
            return True

    def release(self, nbytes: int) -> None:
        """Give back what a task reserved, once it ended."""
        with self._lock:
            self.held -= nbytes

    def landed(self, nbytes: int) -> None:
        """Count bytes that went to a file instead."""
        with self._lock:
            self.landed_bytes += nbytes


def land(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path) -> pa.Table:
    """``batches`` written to an IPC file at ``path`` as the shuffle store writes its own, read
    back memory-mapped.

    The file is unlinked at once: its pages live while the batches do (a mapping
    outlives the name), and nothing is left behind if the task dies.
    """
    try:
        write_ipc(path, schema, batches)
        return read_mapped(path)
    finally:
        path.unlink(missing_ok=True)
