"""Peak memory of executors: TPC-H q9, q18 and q21 under a shuffle memory budget.

Starts a 2-executor cluster with `--memory-limit` per executor, runs the
queries (checked against single-process DataFusion), and prints each
executor's peak resident set size (VmHWM from /proc, Linux only).

    python benchmarks/memory.py --scale 1 --memory-limit 1GiB
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.compare import assert_same_result  # noqa: E402
from tests.conftest import TPCH_TABLES, tpch_data  # noqa: E402


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--queries", nargs="*", default=["q09", "q18", "q21"])
    args = parser.parse_args()
    from datafusion import SessionContext

    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    data = tpch_data(args.scale, 4)
    reference = SessionContext()
    for table in TPCH_TABLES:
        reference.register_parquet(table, f"{data / table}/")
    lines = ["| query | seconds | same rows as DataFusion |", "|---|---|---|"]
    with StandaloneCluster(executors=2, memory_limit=args.memory_limit, log_level="warning") as cluster:
        with ballista_flight.connect(cluster.uri) as ctx:
            for table in TPCH_TABLES:
                ctx.register_parquet(table, f"{data / table}/")
            for query in args.queries:
                sql = (ROOT / "benchmarks" / "tpch" / "queries" / f"{query}.sql").read_text()
                started = time.perf_counter()
                got = ctx.sql(sql).to_arrow()
                elapsed = time.perf_counter() - started
                assert_same_result(got, reference.sql(sql).to_arrow_table(), ordered=True)
                lines.append(f"| {query} | {elapsed:.2f} | yes |")
        peaks = [peak_rss_bytes(p.pid) for p in cluster.executors]
    lines += ["", f"memory limit per executor: {args.memory_limit}; peak RSS per executor: "
              + ", ".join(f"{p / 2**30:.2f} GiB" for p in peaks)]  # fmt: skip
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
