"""CPU seconds, not only wall seconds: where a distributed run's extra time goes.

For each TPC-H query, the median of --runs: wall time and CPU time (user + system,
from /proc) of single-process DataFusion (this process) and of a 2-executor
standalone cluster (its scheduler and executors). If both keep the two cores
equally busy, the cluster's extra wall time is extra work (copies, encoding,
the kernel), not idle cores waiting on each other, and pipelining stages would
not buy it back. Linux only.

    python benchmarks/cpu.py --scale 1 --runs 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import QUERIES_DIR, TPCH_TABLES, tpch_data  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _ratio(ours: float, theirs: float) -> str:
    """``ours / theirs``, or ``-`` when a clock tick (10 ms) never passed for DataFusion."""
    return f"{ours / theirs:.2f}x" if theirs else "-"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", nargs="*", default=[f"q{i:02d}" for i in range(1, 23)])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    from datafusion import SessionContext

    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    data = tpch_data(args.scale, 4)
    cores = os.cpu_count() or 1
    reference = SessionContext()
    for table in TPCH_TABLES:
        reference.register_parquet(table, f"{data / table}/")
    lines = [
        f"TPC-H SF{args.scale:g}, median of {args.runs}, {cores} cores; CPU = user + system seconds",
        "",
        "| query | datafusion wall s | datafusion CPU s | ballista-flight wall s | ballista-flight CPU s "
        "| CPU ratio | busy cores, datafusion / ballista-flight |",
        "|---|---|---|---|---|---|---|",
    ]
    sums = [0.0, 0.0, 0.0, 0.0]
    with StandaloneCluster(executors=2, log_level="warning") as cluster:
        assert cluster.scheduler is not None
        pids = [cluster.scheduler.pid] + [e.pid for e in cluster.executors]
        with ballista_flight.connect(cluster.uri) as ctx:
            for table in TPCH_TABLES:
                ctx.register_parquet(table, f"{data / table}/")
            for name in args.queries:
                sql = (QUERIES_DIR / f"{name}.sql").read_text()
                reference.sql(sql).collect()  # warm-up, both
                ctx.sql(sql).to_arrow()
                ours, theirs = [], []
                for _ in range(args.runs):
                    before, started = os.times(), time.perf_counter()
                    reference.sql(sql).collect()
                    wall, after = time.perf_counter() - started, os.times()
                    theirs.append((wall, (after.user + after.system) - (before.user + before.system)))
                    cpu, started = cpu_seconds(pids), time.perf_counter()
                    ctx.sql(sql).to_arrow()
                    wall = time.perf_counter() - started
                    time.sleep(0.05)  # let the executors finish releasing the job
                    ours.append((wall, cpu_seconds(pids) - cpu))
                # the run of median wall time, with its own CPU time
                (df_wall, df_cpu), (bf_wall, bf_cpu) = (sorted(s)[len(s) // 2] for s in (theirs, ours))
                for i, value in enumerate((df_wall, df_cpu, bf_wall, bf_cpu)):
                    sums[i] += value
                lines.append(
                    f"| {name} | {df_wall:.3f} | {df_cpu:.2f} | {bf_wall:.3f} | {bf_cpu:.2f} "
                    f"| {_ratio(bf_cpu, df_cpu)} | {df_cpu / df_wall:.2f} / {bf_cpu / bf_wall:.2f} |"
                )
    df_wall, df_cpu, bf_wall, bf_cpu = sums
    lines.append(
        f"| total | **{df_wall:.2f}** | **{df_cpu:.2f}** | **{bf_wall:.2f}** ({bf_wall / df_wall:.2f}x) "
        f"| **{bf_cpu:.2f}** | **{_ratio(bf_cpu, df_cpu)}** | {df_cpu / df_wall:.2f} / {bf_cpu / bf_wall:.2f} |"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"cpu-sf{args.scale:g}.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
