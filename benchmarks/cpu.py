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

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import publish, script_parser  # noqa: E402
from tests.conftest import QUERIES_DIR, TPCH_TABLES, tpch_data  # noqa: E402

if TYPE_CHECKING:
    from datafusion import SessionContext

    from ballista_flight import Context

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def timed_here(reference: SessionContext, sql: str) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (user + system) of ``sql`` on DataFusion."""
    before, started = os.times(), time.perf_counter()
    reference.sql(sql).collect()
    wall, after = time.perf_counter() - started, os.times()
    return wall, (after.user + after.system) - (before.user + before.system)


def timed_cluster(ctx: Context, sql: str, pids: list[int]) -> tuple[float, float]:
    """Wall seconds of ``sql`` on a cluster and the CPU seconds its processes ``pids`` spent."""
    cpu, started = cpu_seconds(pids), time.perf_counter()
    ctx.sql(sql).to_arrow()
    wall = time.perf_counter() - started
    time.sleep(0.05)  # let the executors finish releasing the job
    return wall, cpu_seconds(pids) - cpu


def median_run(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """The (wall, CPU) sample of median wall time, with its own CPU time."""
    return sorted(samples)[len(samples) // 2]


def _ratio(ours: float, theirs: float) -> str:
    """``ours / theirs``, or ``-`` when a clock tick (10 ms) never passed for DataFusion."""
    return f"{ours / theirs:.2f}x" if theirs else "-"


def main() -> int:
    parser = script_parser(__doc__, runs=3)
    parser.add_argument("--queries", nargs="*", default=[f"q{i:02d}" for i in range(1, 23)])
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
                    theirs.append(timed_here(reference, sql))
                    ours.append(timed_cluster(ctx, sql, pids))
                (df_wall, df_cpu), (bf_wall, bf_cpu) = median_run(theirs), median_run(ours)
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
    publish("\n".join(lines) + "\n", args.out, f"cpu-sf{args.scale:g}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
