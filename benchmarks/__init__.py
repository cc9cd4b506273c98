"""Runnable benchmark scripts (see README.md); shared bits live here."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded where used: a script may set the allocator up before pyarrow loads
    import pyarrow as pa
    from datafusion import SessionContext

RESULTS = Path(__file__).resolve().parent / "results"


def script_parser(doc: str | None, runs: int, runs_help: str | None = None) -> argparse.ArgumentParser:
    """The options every SF-scaled benchmark script takes: ``--scale``, ``--runs`` and ``--out``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=runs, help=runs_help)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def publish(text: str, out: Path, name: str) -> None:
    """Print a result table and keep it as ``out/name`` (benchmarks/results/ by default)."""
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text)


def drain(ctx: SessionContext, data: bytes, partitions: int) -> int:
    """Rows of every partition of the plan ``data``, read to the end at once, as a task runs them."""
    from concurrent.futures import ThreadPoolExecutor

    from datafusion import ExecutionPlan

    plan = ExecutionPlan.from_bytes(ctx, data)

    def rows(partition: int) -> int:
        return sum(batch.to_pyarrow().num_rows for batch in ctx.execute(plan, partition))

    with ThreadPoolExecutor(max_workers=max(1, partitions)) as threads:
        return sum(threads.map(rows, range(partitions)))


def read_with_input_scan(partitions: list[list[pa.RecordBatch]], schema: pa.Schema) -> int:
    """Rows of ``partitions`` read to the end through a consuming task's input scan (``executor/inputs.py``),
    in a session set up as a task's is (the cluster's default batch size: one call of the input's
    function per batch a map task wrote)."""
    from ballista_flight.config import SchedulerConfig
    from ballista_flight.executor.inputs import MemoryInput
    from ballista_flight.plan.session import make_context

    memory = MemoryInput(schema, partitions)
    batch_size = SchedulerConfig.model_fields["batch_size"].default
    settings = {"datafusion.execution.batch_size": str(batch_size)}
    ctx = make_context(len(partitions), settings).with_python_udf_inlining(enabled=False)
    ctx.register_udf(memory.function)
    return drain(ctx, memory.scan(), len(partitions))
