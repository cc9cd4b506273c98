"""TPC-H side by side: ballista-flight against single-process DataFusion and DuckDB.

Generates TPC-H Parquet with tpchgen-cli (cached under data/), runs the 22
queries on each engine one after another (warm-up, then the median of --runs),
checks every engine returned the same rows as DataFusion, and writes a Markdown
table and JSON under benchmarks/results/. Ratios are to single-process
DataFusion in the same run.

    python benchmarks/tpch.py --scale 1 --executors 2 --shuffle memory disk
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.compare import assert_same_result  # noqa: E402
from tests.conftest import TPCH_TABLES, tpch_data  # noqa: E402

QUERIES = ROOT / "benchmarks" / "tpch" / "queries"
Runner = Callable[[str], pa.Table]


def timed(run: Runner, sql: str, runs: int) -> tuple[float, pa.Table]:
    result = run(sql)  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run(sql)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def datafusion_runner(data: Path) -> tuple[Runner, Callable[[], None]]:
    from datafusion import SessionContext

    ctx = SessionContext()
    for table in TPCH_TABLES:
        ctx.register_parquet(table, f"{data / table}/")
    return (lambda sql: ctx.sql(sql).to_arrow_table()), (lambda: None)


def duckdb_runner(data: Path) -> tuple[Runner, Callable[[], None]]:
    import duckdb

    con = duckdb.connect()
    for table in TPCH_TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data / table}/*.parquet')")
    return (lambda sql: con.execute(sql).to_arrow_table()), con.close


def ballista_runner(
    data: Path, executors: int, shuffle: str, partitions: int = 0, slots: int | None = None
) -> tuple[Runner, Callable[[], None]]:
    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    extra = ["--shuffle-partitions", str(partitions)] if partitions else []
    cluster = StandaloneCluster(
        executors=executors, shuffle=shuffle, slots=slots, extra_scheduler_args=extra, log_level="warning"
    )
    cluster.start()
    ctx = ballista_flight.connect(cluster.uri)
    for table in TPCH_TABLES:
        ctx.register_parquet(table, f"{data / table}/")

    def close() -> None:
        ctx.close()
        cluster.stop()

    return (lambda sql: ctx.sql(sql).to_arrow()), close


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--parts", type=int, default=4, help="files per table")
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--shuffle", nargs="+", default=["memory", "disk"], choices=["memory", "disk"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shuffle-partitions", type=int, default=0, help="0: the cluster's total slots")
    parser.add_argument("--slots", type=int, default=None, help="task slots per executor (default: cores)")
    parser.add_argument("--queries", nargs="*", help="e.g. q01 q09 (default: all 22)")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    data = tpch_data(args.scale, args.parts)
    names = args.queries or sorted(p.stem for p in QUERIES.glob("q*.sql"))
    sqls = {n: (QUERIES / f"{n}.sql").read_text() for n in names}
    engines: list[tuple[str, Callable[[], tuple[Runner, Callable[[], None]]]]] = [
        ("datafusion", lambda: datafusion_runner(data))
    ]
    engines += [
        (
            f"ballista-flight ({args.executors}x, {mode})",
            lambda mode=mode: ballista_runner(
                data, args.executors, mode, args.shuffle_partitions, args.slots
            ),
        )
        for mode in args.shuffle
    ]
    if not args.no_duckdb:
        engines.append(("duckdb", lambda: duckdb_runner(data)))

    times: dict[str, dict[str, float]] = {}
    agree: dict[str, dict[str, bool]] = {}
    reference: dict[str, pa.Table] = {}
    for engine, make in engines:
        run, close = make()
        times[engine], agree[engine] = {}, {}
        try:
            for name in names:
                seconds, result = timed(run, sqls[name], args.runs)
                times[engine][name] = seconds
                if engine == "datafusion":
                    reference[name] = result
                    agree[engine][name] = True
                else:
                    try:
                        ordered = "order by" in sqls[name].lower()
                        ours = engine.startswith("ballista-flight")
                        assert_same_result(
                            result,
                            reference[name],
                            ordered=ordered,
                            check_names=ours,
                            rel_tol=1e-6 if ours else 1e-4,
                        )
                        agree[engine][name] = True
                    except AssertionError as exc:
                        agree[engine][name] = False
                        print(f"{engine} {name}: differs from DataFusion: {exc}", file=sys.stderr)
                print(f"{engine:32} {name} {seconds:8.3f}s", file=sys.stderr, flush=True)
        finally:
            close()

    table = render(names, times, agree)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
             "scale": args.scale, "parts": args.parts, "runs": args.runs, "executors": args.executors}  # fmt: skip
    (args.out / f"tpch-sf{args.scale}.json").write_text(
        json.dumps({**stamp, "seconds": times, "agree": agree}, indent=1)
    )
    (args.out / f"tpch-sf{args.scale}.md").write_text(table)
    return 0 if all(all(v.values()) for v in agree.values()) else 1


def render(names: list[str], times: dict[str, dict[str, float]], agree: dict[str, dict[str, bool]]) -> str:
    engines = list(times)
    base = times["datafusion"]
    head = "| query | " + " | ".join(engines) + " |"
    lines = [head, "|" + "---|" * (len(engines) + 1)]
    for name in names:
        cells = []
        for engine in engines:
            seconds = times[engine][name]
            mark = "" if agree[engine][name] else " (differs!)"
            ratio = "" if engine == "datafusion" else f" ({seconds / base[name]:.2f}x)"
            cells.append(f"{seconds:.3f}{ratio}{mark}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = []
    for engine in engines:
        total = sum(times[engine].values())
        ratio = "" if engine == "datafusion" else f" ({total / sum(base.values()):.2f}x)"
        totals.append(f"**{total:.2f}**{ratio}")
    lines.append("| total | " + " | ".join(totals) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
