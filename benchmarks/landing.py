"""What landing a shuffle input costs, and what the ways around it cost.

A consuming task writes the partitions it fetched into an Arrow IPC file, because
the plan it runs scans files (``executor.task._write_partition``); that copy is the
gap between the shuffle's streams and the whole move in ``shuffle.py``. This script
takes the batches that benchmark moves (nine lineitem columns), already in memory,
and times, in alternating rounds, the ways they could land:

* **file, fresh**: the consumer's path, one new file per partition;
* **file, overwritten in place**: the same files written again without truncating
  (pages the kernel already holds): what a pool of recycled landing files would cost;
* **file, preallocated**: ``posix_fallocate`` first;
* **file, 1 MiB buffer**: a ``BufferedOutputStream`` in front of the file;
* **user-space buffer**: ``pa.BufferOutputStream`` (no kernel);
* **in-memory scan in the plan**: the batches as a DataFusion memory scan, encoded
  with ``ExecutionPlan.to_bytes`` and decoded again: the only file-free way a
  serialized plan can carry data from Python.

System and user CPU seconds are this process's (``getrusage``).

    python benchmarks/landing.py --scale 1
"""

from __future__ import annotations

import functools
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from datafusion import ExecutionPlan, SessionContext

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import publish, script_parser  # noqa: E402
from benchmarks.shuffle import COLUMNS  # noqa: E402
from tests.conftest import tpch_data  # noqa: E402

FILES = 8  # partitions landed per round, as a task lands one file per input partition


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _write(directory: Path, parts: list[list[pa.RecordBatch]], schema: pa.Schema, how: str) -> None:
    for i, batches in enumerate(parts):
        path = directory / f"p{i:04d}.arrow"
        sink: pa.NativeFile
        if how == "overwrite":  # no O_TRUNC: write over the pages of the file left by the round before
            sink = pa.PythonFile(
                os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT), "wb", buffering=0), mode="w"
            )
        elif how == "preallocate":
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.posix_fallocate(fd, 0, sum(b.nbytes for b in batches) + (1 << 20))
            sink = pa.PythonFile(os.fdopen(fd, "wb", buffering=0), mode="w")
        elif how == "buffered":
            sink = pa.BufferedOutputStream(pa.OSFile(str(path), "wb"), 1 << 20)
        elif how == "memory":
            sink = pa.BufferOutputStream()
        else:
            sink = pa.OSFile(str(path), "wb")
        with sink:
            with pa.ipc.new_file(sink, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
            written = sink.tell()
        if how == "overwrite":  # the file ends where this round's data ends
            os.truncate(path, written)


def _plan_round_trip(parts: list[list[pa.RecordBatch]]) -> None:
    ctx = SessionContext()
    ctx.register_record_batches("landed", parts)
    data = ctx.table("landed").execution_plan().to_bytes()
    ExecutionPlan.from_bytes(ctx, data)


def main() -> int:
    args = script_parser(__doc__, runs=7).parse_args()
    data = tpch_data(args.scale, 4)
    ctx = SessionContext()
    ctx.register_parquet("lineitem", f"{data / 'lineitem'}/")
    table = ctx.sql(f"SELECT {COLUMNS} FROM lineitem").to_arrow_table()
    batches = table.to_batches()
    size = -(-len(batches) // FILES)
    parts = [batches[i : i + size] for i in range(0, len(batches), size)]
    scratch = Path(tempfile.mkdtemp(prefix="landing-"))

    def landing(how: str) -> Callable[[], None]:
        return functools.partial(_write, scratch, parts, table.schema, how)

    ways: list[tuple[str, Callable[[], None], bool]] = [
        ("file, fresh (the consumer's path)", landing("fresh"), True),
        ("file, overwritten in place", landing("overwrite"), False),
        ("file, preallocated", landing("preallocate"), True),
        ("file, 1 MiB buffer", landing("buffered"), True),
        ("user-space buffer", landing("memory"), True),
        ("in-memory scan in the plan (encode + decode)", lambda: _plan_round_trip(parts), True),
    ]
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in ways}
    try:
        for _ in range(args.runs):
            for name, run, clear in ways:
                if clear:  # untimed: the removal of the round before's files is not the landing's cost
                    for path in scratch.iterdir():
                        path.unlink()
                user, system = _cpu()
                started = time.perf_counter()
                run()
                wall = time.perf_counter() - started
                user2, system2 = _cpu()
                samples[name].append((wall, user2 - user, system2 - system))
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()
    megabytes = table.nbytes / 1e6
    lines = [
        f"Landing {megabytes:.0f} MB (9 lineitem columns, TPC-H SF{args.scale:g}) as {len(parts)} "
        f"partitions, median of {args.runs}",
        "",
        "| way | wall s | user s | system s | MB/s |",
        "|---|---|---|---|---|",
    ]
    for name, _, _ in ways:
        wall, user, system = (statistics.median(s[i] for s in samples[name]) for i in range(3))
        lines.append(f"| {name} | {wall:.3f} | {user:.3f} | {system:.3f} | {megabytes / wall:.0f} |")
    publish("\n".join(lines) + "\n", args.out, f"landing-sf{args.scale:g}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
