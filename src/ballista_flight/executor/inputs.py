"""Shuffle input handed to a decoded plan in memory, without a file.

A task's plan reads each shuffle input where the scheduler left a placeholder,
and plans are bytes: DataFusion's Python API has no scan of Python objects
that survives encoding, except a memory scan that copies its batches into the
plan bytes (five times a file's cost, ``benchmarks/landing.py``). Landing the
input in an Arrow IPC file costs a kernel copy of every fetched byte, and
DataFusion's read of that file another.

So the placeholder becomes a tiny plan that asks a function of the task for
its batches: a memory scan of *tokens* (one row per batch, partitioned as the
consumer reads them), a scalar function turning each token into its batch as a
one-element list of structs, ``UnnestExec`` spreading that list into rows, and
a projection naming the columns. The function is registered by name in the
task's session before the plan is decoded. The batches stay where Flight or
the shuffle store put them; the unnest's gather is the one copy, in memory.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

import pyarrow as pa
from datafusion import ScalarUDF, SessionConfig, SessionContext, col, udf

from ballista_flight.errors import TaskFailed

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# Token of an empty list: a partition with no batches still has a row to plan with.
_NONE = -1


class MemoryInput:
    """One shuffle input of a task: its batches per consumer partition, and the plan that reads them."""

    def __init__(self, schema: pa.Schema, partitions: list[list[pa.RecordBatch]]) -> None:
        # Unique per input, so several inputs of one task (and their different types) coexist.
        self.name = f"__ballista_flight_input_{uuid.uuid4().hex[:12]}"
        self.schema = schema
        self._fields = list(schema)
        self._type = pa.list_(pa.field("item", pa.struct(self._fields), nullable=False))
        self._batches: list[pa.RecordBatch | None] = []
        self._tokens: list[list[int]] = []
        for batches in partitions:
            first = len(self._batches)
            self._batches.extend(batches)
            self._tokens.append(list(range(first, len(self._batches))))
        self._lock = threading.Lock()
        self.function: ScalarUDF = udf(self._read, [pa.int64()], self._type, "volatile", name=self.name)

    @property
    def partitions(self) -> int:
        """Partitions the scan has (the consumer's partitions of this input)."""
        return len(self._tokens)

    def _read(self, tokens: pa.Array) -> pa.Array:
        """Each token's batch as a one-element list; a batch is let go once handed over."""
        lists = [self._list(token) for token in tokens.to_pylist()]
        if len(lists) == 1:
            return lists[0]
        if not lists:
            return pa.array([], type=self._type)
        return pa.concat_arrays(lists)

    def _list(self, token: int) -> pa.Array:
        if token == _NONE:
            values = pa.StructArray.from_arrays(
                [pa.array([], type=f.type) for f in self._fields], fields=self._fields
            )
            return pa.ListArray.from_arrays(pa.array([0, 0], pa.int32()), values, type=self._type)
        with self._lock:
            batch = self._batches[token]
            self._batches[token] = None
        if batch is None:
            msg = f"shuffle input batch {token} was read twice"
            raise TaskFailed(msg)
        values = pa.StructArray.from_arrays(batch.columns, fields=self._fields)
        return pa.ListArray.from_arrays(pa.array([0, batch.num_rows], pa.int32()), values, type=self._type)

    def scan(self) -> bytes:
        """Plan bytes of the scan, one partition per consumer partition; decode with ``function`` registered."""
        settings = {
            "datafusion.optimizer.enable_round_robin_repartition": "false",
            "datafusion.optimizer.repartition_file_scans": "false",
        }
        config = SessionConfig(settings).with_target_partitions(max(1, self.partitions))
        ctx = SessionContext(config).with_python_udf_inlining(enabled=False)
        ctx.register_udf(self.function)
        schema = pa.schema([pa.field("token", pa.int64(), nullable=False)])
        # One row per record batch: the function is called once per batch, and its lists
        # are never concatenated (which would copy them).
        ctx.register_record_batches(
            "tokens",
            [
                [
                    pa.record_batch([pa.array([token], pa.int64())], schema=schema)
                    for token in tokens or [_NONE]
                ]
                for tokens in self._tokens
            ],
        )
        # The list column takes the function's name, so the projection on top (which
        # metrics report as the scan) names it too.
        frame = (
            ctx.table("tokens").select(self.function(col("token")).alias(self.name)).unnest_columns(self.name)
        )
        frame = frame.select(*[col(self.name)[name].alias(name) for name in self.schema.names])
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
    """``batches`` written to an IPC file at ``path``, read back memory-mapped.

    The file is unlinked at once: its pages live while the batches do (a mapping
    outlives the name), and nothing is left behind if the task dies.
    """
    try:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    finally:
        path.unlink(missing_ok=True)
