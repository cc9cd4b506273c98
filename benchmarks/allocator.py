"""What the servers' mimalloc setting (``src/ballista_flight/allocator.py``) is worth.

pyarrow and DataFusion allocate with mimalloc, which returns freed memory to the
operating system after 1 s (pyarrow's copy) or 10 ms (DataFusion's) by default;
ballista-flight's processes keep it for 10 s (``MIMALLOC_PURGE_DELAY=10000``). Two tables, same run:

* **DataFusion alone**, the 22 TPC-H queries in a fresh process per round (the
  setting is read when the library loads), with mimalloc's default and with the
  servers' setting, rounds alternating: wall, user and system CPU seconds, peak RSS.
  The setting helps DataFusion too; the ratios in ``tpch.py`` are against
  DataFusion as it ships.
* **The cluster**: two 2-executor clusters, one started with mimalloc as the
  libraries ship it (``BALLISTA_FLIGHT_ALLOCATOR_DEFAULTS=1``), one with the servers'
  own setting, each query alternating between them (order swapped every run), beside
  DataFusion in this process: totals of the medians, CPU seconds of each
  cluster's processes (user + system, Linux).

    python benchmarks/allocator.py --scale 1 --runs 3
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import publish, script_parser  # noqa: E402
from benchmarks.cpu import median_run, timed_cluster, timed_here  # noqa: E402
from tests.conftest import QUERIES_DIR, TPCH_TABLES, tpch_data  # noqa: E402

# mimalloc as each library ships it: pyarrow's purges after 1 s, DataFusion's after 10 ms.
LIBRARY_DEFAULTS = {"BALLISTA_FLIGHT_ALLOCATOR_DEFAULTS": "1"}

# One round of DataFusion alone: a warm-up pass over the queries, then one timed pass.
CHILD = """
import json, resource, sys, time
from datafusion import SessionContext
data, tables, sqls = sys.argv[1], sys.argv[2].split(","), json.loads(sys.argv[3])
ctx = SessionContext()
for table in tables:
    ctx.register_parquet(table, f"{data}/{table}/")
for sql in sqls:
    ctx.sql(sql).collect()
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for sql in sqls:
    ctx.sql(sql).collect()
wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps([wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime,
                  after.ru_maxrss * 1024]))
"""


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    return {**env, **settings}


def datafusion_alone(data: Path, sqls: list[str], rounds: int) -> list[str]:
    """Table rows: DataFusion with mimalloc's default and with the servers' setting."""
    from ballista_flight.allocator import SETTINGS

    variants = {"as the libraries ship": {}, "servers' setting (10 s)": SETTINGS}
    samples: dict[str, list[list[float]]] = {name: [] for name in variants}
    args = [str(data), ",".join(TPCH_TABLES), json.dumps(sqls)]
    for r in range(rounds):
        for name in list(variants) if r % 2 == 0 else list(variants)[::-1]:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, *args],
                env=_env(variants[name]),
                capture_output=True,
                text=True,
                check=True,
            )
            samples[name].append(json.loads(out.stdout))
    rows = []
    base = statistics.median(s[0] for s in samples[next(iter(variants))])
    for name, got in samples.items():
        wall, user, system, rss = (statistics.median(s[i] for s in got) for i in range(4))
        rows.append(
            f"| DataFusion alone, {name} | {wall:.2f} ({wall / base:.2f}x) | {user:.2f} | {system:.2f} "
            f"| {rss / 2**30:.2f} |"
        )
    return rows


def cluster(data: Path, sqls: list[str], runs: int) -> list[str]:
    """Table rows: the two clusters and DataFusion, totals of per-query medians."""
    from datafusion import SessionContext

    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    reference = SessionContext()
    for table in TPCH_TABLES:
        reference.register_parquet(table, f"{data / table}/")
    variants = {"as the libraries ship": LIBRARY_DEFAULTS, "servers' setting (10 s)": {}}
    clusters = {name: StandaloneCluster(executors=2, env=env) for name, env in variants.items()}
    totals = {name: [0.0, 0.0] for name in ["datafusion", *variants]}
    try:
        contexts = {}
        for name, c in clusters.items():
            c.start()
            contexts[name] = ballista_flight.connect(c.uri)
            for table in TPCH_TABLES:
                contexts[name].register_parquet(table, f"{data / table}/")
        pids = {
            name: [c.scheduler.pid, *(e.pid for e in c.executors)]
            for name, c in clusters.items()
            if c.scheduler is not None
        }
        for sql in sqls:
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in totals}
            for run in range(runs + 1):  # the first is a warm-up
                sample = timed_here(reference, sql)
                if run:
                    times["datafusion"].append(sample)
                for name in list(variants) if run % 2 == 0 else list(variants)[::-1]:
                    sample = timed_cluster(contexts[name], sql, pids[name])
                    if run:
                        times[name].append(sample)
            for name, got in times.items():
                wall, cpu = median_run(got)
                totals[name][0] += wall
                totals[name][1] += cpu
        for ctx in contexts.values():
            ctx.close()
    finally:
        for c in clusters.values():
            c.stop()
    df_wall, df_cpu = totals.pop("datafusion")
    rows = [f"| DataFusion (this process, as it ships) | {df_wall:.2f} (1.00x) | {df_cpu:.2f} (1.00x) |"]
    for name, (wall, cpu) in totals.items():
        rows.append(
            f"| ballista-flight, 2 executors, {name} | {wall:.2f} ({wall / df_wall:.2f}x) "
            f"| {cpu:.2f} ({cpu / df_cpu:.2f}x) |"
        )
    return rows


def main() -> int:
    parser = script_parser(__doc__, runs=3, runs_help="rounds of DataFusion alone; runs per query")
    parser.add_argument("--queries", nargs="*", default=[f"q{i:02d}" for i in range(1, 23)])
    args = parser.parse_args()
    data = tpch_data(args.scale, 4)
    sqls = [(QUERIES_DIR / f"{name}.sql").read_text() for name in args.queries]
    lines = [
        f"mimalloc's purge delay, TPC-H SF{args.scale:g} ({len(sqls)} queries), {os.cpu_count()} cores",
        "",
        f"| DataFusion alone, median of {args.runs} rounds | wall s | user s | system s | peak RSS GiB |",
        "|---|---|---|---|---|",
        *datafusion_alone(data, sqls, args.runs),
        "",
        f"| engine (sum of per-query medians of {args.runs}) | wall s | CPU s (user + system) |",
        "|---|---|---|",
        *cluster(data, sqls, args.runs),
    ]
    publish("\n".join(lines) + "\n", args.out, f"allocator-sf{args.scale:g}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
