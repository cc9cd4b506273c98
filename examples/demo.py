"""`make run`: a distributed query on an embedded local cluster, end to end.

Generates TPC-H SF0.1 Parquet (4 files per table) with tpchgen-cli, starts a
standalone cluster (a scheduler and 2 executor processes on loopback),
registers the tables, runs the seed's query shape and TPC-H q1, prints results,
the distributed plan and timings, then shuts the cluster down.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import ballista_flight
from ballista_flight.cli import format_table
from ballista_flight.standalone import StandaloneCluster

ROOT = Path(__file__).resolve().parent.parent
TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]

SEED_QUERY = """
SELECT l_returnflag AS key, MIN(l_extendedprice) AS min_x, MAX(l_extendedprice) AS max_x
FROM lineitem
GROUP BY l_returnflag
ORDER BY key
"""


def generate(scale: float, parts: int) -> Path:
    target = ROOT / "data" / f"tpch-sf{scale}-p{parts}"
    if (target / ".complete").exists():
        print(f"TPC-H SF{scale} data: {target} (cached)")
        return target
    shutil.rmtree(target, ignore_errors=True)
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).with_name("tpchgen-cli"))
    started = time.perf_counter()
    cmd = [exe, "parquet", "-s", str(scale), "--parts", str(parts), "--output-dir", str(target)]
    subprocess.run(cmd, check=True)
    (target / ".complete").touch()
    print(f"TPC-H SF{scale} data: {target} (generated in {time.perf_counter() - started:.1f}s)")
    return target


def timed(label: str, ctx: ballista_flight.Context, sql: str) -> None:
    started = time.perf_counter()
    table = ctx.sql(sql).to_arrow()
    elapsed = time.perf_counter() - started
    print(f"\n== {label} ({elapsed:.3f}s, {table.num_rows} rows)")
    print(format_table(table))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--shuffle", choices=["memory", "disk"], default="memory")
    args = parser.parse_args()
    data = generate(args.scale, 4)
    started = time.perf_counter()
    # SF0.1 is below the scheduler's --small-query-bytes (each query would run as one task on one
    # executor); the demo distributes everything so its plans show their stages and shuffles.
    distribute = ["--small-query-bytes", "0"]
    with StandaloneCluster(
        executors=args.executors, shuffle=args.shuffle, log_level="warning", extra_scheduler_args=distribute
    ) as cluster:
        print(f"cluster ready at {cluster.uri}: {args.executors} executors, {args.shuffle} shuffle "
              f"({time.perf_counter() - started:.1f}s)")  # fmt: skip
        with ballista_flight.connect(cluster.uri) as ctx:
            for table in TABLES:
                ctx.register_parquet(table, f"{data / table}/")
            print(f"registered tables: {', '.join(ctx.tables())}")
            timed("seed query: SELECT key, MIN(x), MAX(x) ... GROUP BY key", ctx, SEED_QUERY)
            q1 = (ROOT / "benchmarks" / "tpch" / "queries" / "q01.sql").read_text()
            timed("TPC-H q1", ctx, q1)
            print("\n== distributed plan of TPC-H q1")
            print(ctx.sql(q1).explain())
    print("cluster stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
