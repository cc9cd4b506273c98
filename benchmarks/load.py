"""Load: concurrent clients run a TPC-H mix against a standalone cluster for a while.

Every result is checked against single-process DataFusion (computed once, up
front). Reports queries run, errors, wrong answers, the scheduler's
GetFlightInfo latency (p50/p99: planning plus the map stages, as a client sees
it) and the whole query's, each executor's peak RSS, and, after the last query,
whether any shuffle data is left in executors' memory, on their disks, or in
the work directory. Exits non-zero if anything is wrong.

    python benchmarks/load.py                          # 16 clients, 120 s, SF0.1 (make load)
    python benchmarks/load.py --clients 4 --duration 10 --queries q01 q03 q06
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import flight

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.compare import assert_same_result  # noqa: E402
from tests.conftest import TPCH_TABLES, tpch_data  # noqa: E402

QUERIES = ROOT / "benchmarks" / "tpch" / "queries"


@dataclass
class Tally:
    """What the clients saw (appended to under a lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    info_s: list[float] = field(default_factory=list)
    query_s: list[float] = field(default_factory=list)
    per_query: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def fetch(
    scheduler: flight.FlightClient, peers: dict[str, flight.FlightClient], sql: str
) -> tuple[float, pa.Table]:
    """Run ``sql`` with the plain Flight flow; return GetFlightInfo's seconds and the rows.

    An endpoint whose executor fails is fetched again at the scheduler (as the
    Python client does).
    """
    started = time.perf_counter()
    info = scheduler.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
    info_s = time.perf_counter() - started
    tables = []
    for endpoint in info.endpoints:
        if not endpoint.locations:
            tables.append(scheduler.do_get(endpoint.ticket).read_all())
            continue
        uri = endpoint.locations[0].uri.decode()
        peer = peers.setdefault(uri, flight.FlightClient(uri))
        try:
            tables.append(peer.do_get(endpoint.ticket).read_all())
        except flight.FlightError:
            tables.append(scheduler.do_get(endpoint.ticket).read_all())
    return info_s, pa.concat_tables(tables) if tables else info.schema.empty_table()


def client_loop(
    index: int, uri: str, mix: list[str], sqls: dict[str, str], expected: dict[str, pa.Table],
    deadline: float, tally: Tally,
) -> None:  # fmt: skip
    """One client: the mix in a rotated order, over and over, until ``deadline``."""
    scheduler = flight.FlightClient(uri)
    peers: dict[str, flight.FlightClient] = {}
    n = index
    while time.monotonic() < deadline:
        query = mix[n % len(mix)]
        n += 1
        sql = sqls[query]
        started = time.perf_counter()
        try:
            info_s, got = fetch(scheduler, peers, sql)
        except flight.FlightError as exc:
            with tally.lock:
                tally.errors.append(f"{query}: {str(exc).splitlines()[0][:200]}")
            continue
        elapsed = time.perf_counter() - started
        try:
            assert_same_result(got, expected[query], ordered="order by" in sql.lower())
            ok = True
        except AssertionError as exc:
            ok = False
            problem = f"{query}: {str(exc)[:200]}"
        with tally.lock:
            tally.info_s.append(info_s)
            tally.query_s.append(elapsed)
            tally.per_query[query] = tally.per_query.get(query, 0) + 1
            if not ok:
                tally.wrong.append(problem)
    for peer in peers.values():
        peer.close()
    scheduler.close()


def rss_bytes(pid: int, key: str = "VmRSS") -> int:
    """A process's resident set (``VmRSS``) or its peak (``VmHWM``), from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def executor_stats(uri: str) -> list[dict[str, Any]]:
    """The ``stats`` action of every registered executor."""
    with flight.FlightClient(uri) as scheduler:
        listed = json.loads(next(iter(scheduler.do_action("list_executors"))).body.to_pybytes())
    out = []
    for info in listed:
        with flight.FlightClient(info["uri"]) as executor:
            out.append(json.loads(next(iter(executor.do_action("stats"))).body.to_pybytes()))
    return out


def leftovers(uri: str, work_dir: Path, timeout: float = 20.0) -> tuple[list[dict[str, Any]], list[Path]]:
    """Executors' stats and the work directory's files, once nothing is held (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = executor_stats(uri)
        files = [p for p in work_dir.rglob("*") if p.is_file()]
        held = [
            s for s in stats if s["jobs"] or s["memory_bytes"] or s["disk_bytes"] or s["input_memory_bytes"]
        ]
        if (not held and not files) or time.monotonic() > deadline:
            return stats, files
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--shuffle", choices=["memory", "disk"], default="memory")
    parser.add_argument("--memory-limit", default="1GiB", help="in-memory shuffle budget per executor")
    parser.add_argument(
        "--task-memory-limit", default="0", help="DataFusion working memory per task (0: unbounded)"
    )
    parser.add_argument(
        "--input-memory-limit", default="1GiB", help="fetched shuffle input held in memory per executor"
    )
    parser.add_argument(
        "--small-query-bytes",
        default=None,
        help="the scheduler's one-task threshold (0 distributes every query; default: the scheduler's)",
    )
    parser.add_argument("--max-rss", default="4GiB", help="fail if an executor's peak RSS exceeds this")
    parser.add_argument("--queries", nargs="*", default=[f"q{i:02d}" for i in range(1, 23)])
    args = parser.parse_args()
    from datafusion import SessionContext

    import ballista_flight
    from ballista_flight.config import parse_size
    from ballista_flight.standalone import StandaloneCluster

    data = tpch_data(args.scale, 4)
    sqls = {q: (QUERIES / f"{q}.sql").read_text() for q in args.queries}
    reference = SessionContext()
    for table in TPCH_TABLES:
        reference.register_parquet(table, f"{data / table}/")
    expected = {q: reference.sql(sql).to_arrow_table() for q, sql in sqls.items()}
    tally = Tally()
    peaks: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="ballista-flight-load-") as tmp:
        work_dir = Path(tmp)
        cluster = StandaloneCluster(
            executors=args.executors, shuffle=args.shuffle, memory_limit=args.memory_limit,
            work_dir=work_dir, log_level="error",
            extra_executor_args=[
                "--task-memory-limit", args.task_memory_limit, "--input-memory-limit", args.input_memory_limit,
            ],
            extra_scheduler_args=(
                ["--small-query-bytes", args.small_query_bytes] if args.small_query_bytes is not None else []
            ),
        )  # fmt: skip
        with cluster:
            with ballista_flight.connect(cluster.uri) as ctx:
                for table in TPCH_TABLES:
                    ctx.register_parquet(table, f"{data / table}/")
            started = time.monotonic()
            deadline = started + args.duration
            threads = [
                threading.Thread(
                    target=client_loop,
                    args=(i, cluster.uri, list(sqls), sqls, expected, deadline, tally),
                    daemon=True,
                )
                for i in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                for i, proc in enumerate(cluster.executors):
                    peaks[f"executor-{i}"] = max(peaks.get(f"executor-{i}", 0), rss_bytes(proc.pid, "VmHWM"))
                time.sleep(0.5)
            wall = time.monotonic() - started
            stats, files = leftovers(cluster.uri, work_dir)
    done = len(tally.query_s)
    held_mem = sum(s["memory_bytes"] for s in stats)
    held_disk = sum(s["disk_bytes"] for s in stats)
    held_jobs = sum(len(s["jobs"]) for s in stats)
    held_input = sum(s["input_memory_bytes"] for s in stats)
    landed = sum(s["input_landed_bytes"] for s in stats)
    limit = parse_size(args.max_rss)
    rows = [
        ("clients x seconds", f"{args.clients} x {args.duration:.0f} (wall {wall:.1f} s)"),
        ("cluster", f"{args.executors} executors, {args.shuffle} shuffle, memory limit {args.memory_limit}, task memory limit {args.task_memory_limit}, input memory limit {args.input_memory_limit}"),
        ("data", f"TPC-H SF{args.scale:g}, {len(sqls)} queries in the mix"),
        ("queries completed", f"{done} ({done / wall:.2f}/s)"),
        ("errors", str(len(tally.errors))),
        ("wrong results", str(len(tally.wrong))),
        ("GetFlightInfo p50 / p99", f"{percentile(tally.info_s, 0.5):.3f} s / {percentile(tally.info_s, 0.99):.3f} s"),
        ("whole query p50 / p99", f"{percentile(tally.query_s, 0.5):.3f} s / {percentile(tally.query_s, 0.99):.3f} s"),
        ("executor peak RSS", ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(peaks.items()))),
        ("shuffle left after the load", f"{held_jobs} jobs, {held_mem} B in memory, {held_disk} B on disk, {held_input} B of fetched input"),
        ("fetched input landed in files (past the input memory limit)", f"{landed / 2**20:.1f} MiB"),
        ("files left in the work dir", str(len(files))),
    ]  # fmt: skip
    print("| metric | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if tally.info_s:
        print(f"\nmean GetFlightInfo {statistics.mean(tally.info_s):.3f} s; per query: "
              + ", ".join(f"{q} {n}" for q, n in sorted(tally.per_query.items())))  # fmt: skip
    for problem in (tally.errors + tally.wrong)[:10]:
        print(f"  problem: {problem}", file=sys.stderr)
    failed = (
        tally.errors or tally.wrong or not done or held_mem or held_disk or held_jobs or held_input or files
        or any(v > limit for v in peaks.values())
    )  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
