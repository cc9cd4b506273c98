"""What handing a fetched shuffle input to the consumer's plan costs, each way it can go.

A consuming task has its input partitions in memory (fetched from other
executors, or its own) and runs a decoded plan over them. This script takes the
batches ``shuffle.py`` moves (nine lineitem columns), already in memory, and
times in alternating rounds, every partition read to its last row by the plan:

Batches are cut as a map task keeps them (``executor.task.coalesce``, 64 Ki rows).

* **in memory, read by the plan (the consumer's path)**: ``executor.inputs``: a
  scan of tokens, a function handing each batch over, an unnest;
* **IPC file, fresh (landing alone)**: one new Arrow IPC file per partition, the
  path consumers took before ``executor.inputs``;
* **IPC file, fresh, then scanned by the plan**: the same files read back by a
  DataFusion scan, that path end to end;
* **in-memory scan in the plan (encode + decode + read)**: the batches as a
  DataFusion memory scan, encoded with ``ExecutionPlan.to_bytes`` and decoded:
  the one way a serialized plan can carry data from Python by itself.

System and user CPU seconds are this process's (``getrusage``).

    python benchmarks/landing.py --scale 1
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from datafusion import SessionContext

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ballista_flight.executor.task import coalesce  # noqa: E402
from benchmarks import drain, publish, read_with_input_scan, script_parser  # noqa: E402
from benchmarks.shuffle import COLUMNS  # noqa: E402
from tests.conftest import tpch_data  # noqa: E402

FILES = 8  # partitions per round, as a consumer reads one partition per input piece


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _write(directory: Path, parts: list[list[pa.RecordBatch]], schema: pa.Schema) -> None:
    for i, batches in enumerate(parts):
        with (
            pa.OSFile(str(directory / f"p{i:04d}.arrow"), "wb") as sink,
            pa.ipc.new_file(sink, schema) as writer,
        ):
            for batch in batches:
                writer.write_batch(batch)


def _file_scan(directory: Path, schema: pa.Schema, partitions: int) -> bytes:
    """Plan bytes of a scan with one partition per file of ``directory``, in name order: how
    consumers (and the write path, until the eighth session) read landed input."""
    from datafusion import SessionConfig

    from ballista_flight.plan.session import REQUIRED_SETTINGS

    settings = dict(REQUIRED_SETTINGS)
    settings["datafusion.optimizer.repartition_file_scans"] = "false"
    settings["datafusion.execution.collect_statistics"] = "false"
    ctx = SessionContext(SessionConfig(settings).with_target_partitions(partitions))
    ctx.register_arrow("shuffle", f"{directory}/", schema=schema)
    return bytes(ctx.table("shuffle").execution_plan().to_bytes())


def _file_scanned(directory: Path, parts: list[list[pa.RecordBatch]], schema: pa.Schema) -> int:
    _write(directory, parts, schema)
    return drain(SessionContext(), _file_scan(directory, schema, len(parts)), len(parts))


def _plan_round_trip(parts: list[list[pa.RecordBatch]], schema: pa.Schema) -> int:
    from ballista_flight.plan.session import memory_scan

    return drain(SessionContext(), memory_scan(parts, schema), len(parts))


def main() -> int:
    args = script_parser(__doc__, runs=7).parse_args()
    data = tpch_data(args.scale, 4)
    ctx = SessionContext()
    ctx.register_parquet("lineitem", f"{data / 'lineitem'}/")
    table = ctx.sql(f"SELECT {COLUMNS} FROM lineitem").to_arrow_table()
    # Equal partitions, each in batches as a map task keeps them (``executor.task.coalesce``),
    # so as a consumer gets them.
    size = -(-table.num_rows // FILES)
    parts = [coalesce(table.slice(i * size, size).to_batches()) for i in range(FILES)]
    scratch = Path(tempfile.mkdtemp(prefix="landing-"))

    def landing() -> int:
        _write(scratch, parts, table.schema)
        return table.num_rows

    ways: list[tuple[str, Callable[[], int]]] = [
        (
            "in memory, read by the plan (the consumer's path)",
            lambda: read_with_input_scan(parts, table.schema),
        ),
        ("IPC file, fresh (landing alone)", landing),
        ("IPC file, fresh, then scanned by the plan", lambda: _file_scanned(scratch, parts, table.schema)),
        (
            "in-memory scan in the plan (encode + decode + read)",
            lambda: _plan_round_trip(parts, table.schema),
        ),
    ]
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in ways}
    try:
        for _ in range(args.runs):
            for name, run in ways:
                for path in scratch.iterdir():  # untimed: the round before's files
                    path.unlink()
                user, system = _cpu()
                started = time.perf_counter()
                rows = run()
                wall = time.perf_counter() - started
                user2, system2 = _cpu()
                if rows != table.num_rows:
                    msg = f"{name}: {rows} rows read, {table.num_rows} expected"
                    raise SystemExit(msg)
                samples[name].append((wall, user2 - user, system2 - system))
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()
    megabytes = table.nbytes / 1e6
    lines = [
        f"Handing {megabytes:.0f} MB (9 lineitem columns, TPC-H SF{args.scale:g}) as {len(parts)} "
        f"partitions to a plan, median of {args.runs}",
        "",
        "| way | wall s | user s | system s | MB/s |",
        "|---|---|---|---|---|",
    ]
    for name, _ in ways:
        wall, user, system = (statistics.median(s[i] for s in samples[name]) for i in range(3))
        lines.append(f"| {name} | {wall:.3f} | {user:.3f} | {system:.3f} | {megabytes / wall:.0f} |")
    publish("\n".join(lines) + "\n", args.out, f"landing-sf{args.scale:g}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
