"""TPC-H side by side: ballista-flight against the engines users would pick instead.

Generates TPC-H Parquet with tpchgen-cli (cached under data/), runs the 22
queries on each engine (a warm-up pass over every query, then per query a
warm-up run and the median of --runs timed runs; DataFusion, ballista-flight,
DuckDB and Apache Ballista take turns run by run, Spark follows on its own),
checks every engine returned the same rows as single-process DataFusion, and
writes a Markdown table, JSON and a PNG chart under benchmarks/results/. Ratios
are to single-process DataFusion in the same run.

    python benchmarks/tpch.py --scale 1 --executors 2 --shuffle memory disk
    python benchmarks/tpch.py --scale 1 --scaling 1 2 4      # the executor-count curve
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import flight

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import RESULTS, publish  # noqa: E402
from tests.compare import assert_same_result  # noqa: E402
from tests.conftest import TPCH_TABLES, tpch_data  # noqa: E402

QUERIES = ROOT / "benchmarks" / "tpch" / "queries"


@dataclass
class Engine:
    """A way to run SQL; ``profile`` (ballista-flight only) explains the last query's time."""

    run: Callable[[str], pa.Table]
    close: Callable[[], None]
    profile: Callable[[], dict[str, Any]] | None = None
    by_position: bool = False  # another engine: compare columns by position, to 1e-4
    # One run timed inside the engine's own process (Apache Ballista's client runs in another
    # virtualenv: timing it from here would add its result's trip through a file).
    timed: Callable[[str], tuple[float, pa.Table]] | None = None
    note: str = ""  # what the table should say about how it ran (versions, set-up)


@dataclass
class Outcome:
    seconds: dict[str, float] = field(default_factory=dict)
    agree: dict[str, bool] = field(default_factory=dict)
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: str = ""
    note: str = ""


def datafusion_engine(data: Path) -> Engine:
    from datafusion import SessionContext

    ctx = SessionContext()
    for table in TPCH_TABLES:
        ctx.register_parquet(table, f"{data / table}/")
    return Engine(lambda sql: ctx.sql(sql).to_arrow_table(), lambda: None)


def duckdb_engine(data: Path) -> Engine:
    import duckdb

    con = duckdb.connect()
    for table in TPCH_TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data / table}/*.parquet')")
    return Engine(lambda sql: con.sql(sql).to_arrow_table(), con.close, by_position=True)


def spark_engine(data: Path) -> Engine:
    if shutil.which("java") is None:
        raise SkipEngine("no Java runtime on this machine (apt-get install default-jre-headless)")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SkipEngine("pyspark is not installed (pip install -e '.[bench]')") from exc
    cores = os.cpu_count() or 1
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("ballista-flight-tpch")
        .config("spark.driver.memory", "8g")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for table in TPCH_TABLES:
        spark.read.parquet(str(data / table)).createOrReplaceTempView(table)
    return Engine(lambda sql: spark.sql(sql).toArrow(), spark.stop, by_position=True)


def ballista_apache_engine(data: Path, libc: str | None = None, tasks: int | None = None) -> Engine:
    """Apache Ballista 54 in its own virtualenv: scheduler + executor in one process, a client in another.

    ``tasks``: the executor's concurrent tasks (default: its own, the cores); ``main`` gives it
    as many as the ballista-flight cluster has slots in all.

    Its wheel needs glibc 2.39; on an older one its processes run on Debian 13's glibc
    (``libc`` overrides this machine's, for the tests). Where that or the virtualenv cannot
    be had, say why. See benchmarks/ballista_apache.py.
    """
    from benchmarks import ballista_apache as apache

    try:
        python = apache.prepare(libc)
    except apache.Unavailable as exc:
        raise SkipEngine(str(exc)) from exc
    cluster = apache.Cluster(python, tasks)
    try:
        cluster.start()
        client = apache.Client(python, cluster.address)
    except apache.Unavailable as exc:
        cluster.stop()
        raise SkipEngine(str(exc)) from exc
    try:
        client.register({table: f"{data / table}/" for table in TPCH_TABLES})
    except BaseException:
        client.close()
        cluster.stop()
        raise

    def close() -> None:
        client.close()
        cluster.stop()

    v = client.versions
    note = (
        f"ballista {v.get('ballista')}, datafusion {v.get('datafusion')}, pyarrow {v.get('pyarrow')}, "
        f"{cluster.tasks} concurrent tasks"
    )
    if v.get("libc") != apache.machine_libc():  # it ran on Debian 13's glibc
        note += f"; on {v.get('libc')} through its own loader (this machine: {apache.machine_libc()})"
    # Another DataFusion version: names of unaliased expressions may differ, so by position.
    return Engine(client.run, close, timed=client.timed, by_position=True, note=note)


def ballista_flight_engine(
    data: Path,
    executors: int,
    shuffle: str,
    partitions: int = 0,
    slots: int | None = None,
    env: dict[str, str] | None = None,
) -> Engine:
    """A standalone cluster with the TPC-H tables registered; ``env`` goes to its processes."""
    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    extra = ["--shuffle-partitions", str(partitions)] if partitions else []
    cluster = StandaloneCluster(
        executors=executors,
        shuffle=shuffle,
        slots=slots,
        extra_scheduler_args=extra,
        log_level="warning",
        env=env,
    )
    cluster.start()
    ctx = ballista_flight.connect(cluster.uri)
    for table in TPCH_TABLES:
        ctx.register_parquet(table, f"{data / table}/")
    last: list[str] = []

    def run(sql: str) -> pa.Table:
        result = ctx.sql(sql)
        table = result.to_arrow()
        last[:] = [result.info.app_metadata.decode()] if result.info else []
        return table

    def profile() -> dict[str, Any]:
        with flight.FlightClient(cluster.uri) as client:
            body = next(iter(client.do_action(("job_profile", last[0].encode())))).body.to_pybytes()
        raw = json.loads(body)
        tasks = raw["tasks"]
        return {
            "planning_s": raw["planned_s"],
            "map_stages_s": raw["map_stages_s"],
            "stages": raw["stages"],
            "tasks": len(tasks),
            "shuffle_bytes": sum(int(t.get("bytes", 0)) for t in tasks),
            "remote_bytes": sum(int(t.get("bytesFetchedRemote", 0)) for t in tasks),
        }

    def close() -> None:
        ctx.close()
        cluster.stop()

    return Engine(run, close, profile)


class SkipEngine(Exception):
    """The engine cannot run on this machine; the message says why."""


def timed_run(engine: Engine, sql: str) -> tuple[float, pa.Table]:
    """Seconds of one run of ``sql`` and its rows."""
    if engine.timed is not None:
        return engine.timed(sql)
    started = time.perf_counter()
    result = engine.run(sql)
    return time.perf_counter() - started, result


# Engines that idle quietly between queries (in this process, or servers waiting on a socket)
# run interleaved: each timed run of a query on each of them in turn, the order rotated from
# run to run, so that their ratios compare the same seconds of this shared machine (its speed
# drifts by 20-30% between minutes: Apache Ballista's q01 took 0.35 s in a block of its own
# after the others, 0.45 s taking turns; and a slow second used to fall on all of one
# engine's runs of a query when they ran back to back). An idle Apache Ballista cluster and
# client use no CPU (0.000 s over 10 s). Spark runs afterwards in a block of its own: an idle
# JVM would run beside the others.
INTERLEAVED = ("datafusion", "ballista-flight", "duckdb", "apache ballista")


def _start(name: str, make: Callable[[], Engine], outcome: Outcome) -> Engine | None:
    try:
        engine = make()
    except SkipEngine as exc:
        outcome.skipped = str(exc)
        print(f"{name}: skipped: {exc}", file=sys.stderr)
        return None
    outcome.note = engine.note
    return engine


def warm_up(name: str, engine: Engine, sqls: dict[str, str]) -> None:
    """Run every query once before any is timed.

    A fresh process runs its first queries slower, whatever the engine: q01 first on new
    processes took 0.71 s, 0.51 s, then 0.31-0.34 s on a ballista-flight cluster and 0.52 s,
    0.34 s, then 0.25-0.29 s in DataFusion; after one pass over the other queries its first
    run was already 0.30 s / 0.25 s. Servers are timed as they run in production, warm, and
    the query timed first (q01) is not penalised for coming first. Errors wait for the timed runs.
    """
    started = time.perf_counter()
    for sql in sqls.values():
        try:
            engine.run(sql)
        except Exception:  # the timed run of that query reports it
            continue
    print(f"{name:36} warm-up pass {time.perf_counter() - started:8.3f}s", file=sys.stderr, flush=True)


def _record(
    name: str,
    engine: Engine,
    outcome: Outcome,
    query: str,
    sql: str,
    times: list[float],
    result: pa.Table,
    reference: dict[str, pa.Table],
) -> None:
    """The median of ``times``; the first engine recorded for a query sets its expected rows."""
    seconds = statistics.median(times)
    outcome.seconds[query] = seconds
    if engine.profile is not None:
        outcome.profile[query] = engine.profile()
    expected = reference.setdefault(query, result)
    outcome.agree[query] = agrees(result, expected, sql, engine.by_position, f"{name} {query}")
    print(f"{name:36} {query} {seconds:8.3f}s", file=sys.stderr, flush=True)


# A pause after every run, untimed: what an engine still does once its answer is in (a
# cluster dropping the job's shuffle data, unlinking its files) is not charged to the run
# that follows, whichever engine's it is.
SETTLE_S = 0.1


def _runs(
    engines: dict[str, Engine], sql: str, runs: int, settle_s: float = SETTLE_S
) -> dict[str, tuple[list[float], pa.Table]]:
    """A warm-up run, then ``runs`` timed runs of ``sql`` on each engine, taking turns run by run.

    The order rotates from run to run, so that no engine always follows the same one.
    """
    names = list(engines)
    for name in names:
        engines[name].run(sql)
        time.sleep(settle_s)
    times: dict[str, list[float]] = {name: [] for name in names}
    results: dict[str, pa.Table] = {}
    for r in range(runs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            seconds, results[name] = timed_run(engines[name], sql)
            times[name].append(seconds)
            time.sleep(settle_s)
    return {name: (times[name], results[name]) for name in names}


def run_engines(
    engines: list[tuple[str, Callable[[], Engine]]], sqls: dict[str, str], runs: int
) -> dict[str, Outcome]:
    """Each engine's seconds and agreement per query; the first engine's rows are the reference."""
    outcomes = {name: Outcome() for name, _ in engines}
    reference: dict[str, pa.Table] = {}
    group = [(n, m) for n, m in engines if n.startswith(INTERLEAVED)]
    rest = [(n, m) for n, m in engines if not n.startswith(INTERLEAVED)]
    started: dict[str, Engine] = {}
    try:
        for name, make in group:
            engine = _start(name, make, outcomes[name])
            if engine is not None:
                started[name] = engine
        for name, engine in started.items():
            warm_up(name, engine, sqls)
        # The first engine (DataFusion) sets the expected rows.
        for query, sql in sqls.items():
            measured = _runs(started, sql, runs)
            for name, (times, result) in measured.items():
                _record(name, started[name], outcomes[name], query, sql, times, result, reference)
    finally:
        for engine in started.values():
            engine.close()
    for name, make in rest:
        engine = _start(name, make, outcomes[name])
        if engine is None:
            continue
        try:
            warm_up(name, engine, sqls)
            for query, sql in sqls.items():
                times, result = _runs({name: engine}, sql, runs)[name]
                _record(name, engine, outcomes[name], query, sql, times, result, reference)
        finally:
            engine.close()
    return outcomes


def agrees(got: pa.Table, expected: pa.Table, sql: str, by_position: bool, label: str) -> bool:
    try:
        assert_same_result(
            got,
            expected,
            ordered="order by" in sql.lower(),
            check_names=not by_position,
            rel_tol=1e-4 if by_position else 1e-6,
        )
    except AssertionError as exc:
        print(f"{label}: differs from DataFusion: {exc}", file=sys.stderr)
        return False
    return True


def table(outcomes: dict[str, Outcome], queries: list[str]) -> str:
    engines = [e for e, o in outcomes.items() if not o.skipped]
    base = outcomes["datafusion"].seconds
    lines = ["| query | " + " | ".join(engines) + " |", "|" + "---|" * (len(engines) + 1)]
    for query in queries:
        cells = []
        for engine in engines:
            seconds = outcomes[engine].seconds[query]
            ratio = "" if engine == "datafusion" else f" ({seconds / base[query]:.2f}x)"
            mark = "" if outcomes[engine].agree[query] else " **differs**"
            cells.append(f"{seconds:.3f}{ratio}{mark}")
        lines.append(f"| {query} | " + " | ".join(cells) + " |")
    totals = []
    for engine in engines:
        total = sum(outcomes[engine].seconds.values())
        ratio = "" if engine == "datafusion" else f" ({total / sum(base.values()):.2f}x)"
        totals.append(f"**{total:.2f}**{ratio}")
    lines.append("| total | " + " | ".join(totals) + " |")
    agree_line = "All engines returned the same rows on every query." if all(
        all(o.agree.values()) for o in outcomes.values() if not o.skipped
    ) else "Some results differ: see the marked cells."  # fmt: skip
    lines += ["", agree_line]
    lines += [f"- {engine}: {o.note}" for engine, o in outcomes.items() if o.note and not o.skipped]
    lines += [f"- {engine}: skipped: {o.skipped}" for engine, o in outcomes.items() if o.skipped]
    return "\n".join(lines) + "\n"


def breakdown(outcome: Outcome, queries: list[str]) -> str:
    """Where ballista-flight's time went per query: planning, stages, shuffle bytes."""
    lines = [
        "| query | total s | planning s | map stages s | stages (start-end s) | shuffle MB | crossed executors MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for query in queries:
        p = outcome.profile.get(query)
        if not p:
            continue
        stages = " ".join(
            f"{k}:{v['start_s']:.2f}-{v['end_s']:.2f}"
            for k, v in sorted(p["stages"].items(), key=lambda kv: int(kv[0]))
        )
        lines.append(
            f"| {query} | {outcome.seconds[query]:.3f} | {p['planning_s']:.3f} | {p['map_stages_s']:.3f} | "
            f"{stages} | {p['shuffle_bytes'] / 1e6:.1f} | {p['remote_bytes'] / 1e6:.1f} |"
        )
    return "\n".join(lines) + "\n"


def chart(outcomes: dict[str, Outcome], queries: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = [e for e, o in outcomes.items() if not o.skipped]
    width = 0.8 / len(engines)
    fig, ax = plt.subplots(figsize=(14, 5))
    for i, engine in enumerate(engines):
        xs = [q + (i - len(engines) / 2) * width + width / 2 for q in range(len(queries))]
        ax.bar(xs, [outcomes[engine].seconds[q] for q in queries], width, label=engine)
    ax.set_xticks(range(len(queries)), queries)
    ax.set_ylabel("seconds (median)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> dict[str, Any]:
    import datafusion

    cpu = subprocess.run(
        ["sh", "-c", "lscpu | sed -n 's/Model name: *//p'"], capture_output=True, text=True, check=False
    )
    return {
        "date": dt.date.today().isoformat(),
        "cpu": cpu.stdout.strip() or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "datafusion": datafusion.__version__,
        "pyarrow": pa.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--parts", type=int, default=4, help="files per table")
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--shuffle", nargs="+", default=["memory", "disk"], choices=["memory", "disk"])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query and engine (median)")
    parser.add_argument("--shuffle-partitions", type=int, default=0, help="0: the cluster's total slots")
    parser.add_argument("--slots", type=int, default=None, help="task slots per executor (default: cores)")
    parser.add_argument("--queries", nargs="*", help="e.g. q01 q09 (default: all 22)")
    parser.add_argument(
        "--engines",
        nargs="*",
        default=["duckdb", "spark", "ballista"],
        help="other engines to include (default: duckdb spark ballista)",
    )
    parser.add_argument(
        "--scaling",
        nargs="*",
        type=int,
        help="instead: ballista-flight (memory) with each of these executor counts",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)  # fmt: skip
    args = parser.parse_args()

    data = tpch_data(args.scale, args.parts)
    queries = args.queries or sorted(p.stem for p in QUERIES.glob("q*.sql"))
    sqls = {q: (QUERIES / f"{q}.sql").read_text() for q in queries}
    engines: list[tuple[str, Callable[[], Engine]]] = [("datafusion", lambda: datafusion_engine(data))]
    label = f"tpch-sf{args.scale:g}"
    if args.scaling:
        label += "-scaling"
        for n in args.scaling:
            engines.append((f"ballista-flight ({n}x)", lambda n=n: ballista_flight_engine(data, n, "memory")))
    else:
        for mode in args.shuffle:
            engines.append((
                f"ballista-flight ({args.executors}x, {mode})",
                lambda mode=mode: ballista_flight_engine(
                    data, args.executors, mode, args.shuffle_partitions, args.slots
                ),
            ))  # fmt: skip
        # Apache Ballista's one executor gets the task slots of our whole cluster: 2 x cores by
        # default, a little faster for it in total than its own default, the cores (24.3 s
        # against 25.2 s, best of two rounds each; benchmarks/README.md).
        slots = args.executors * (args.slots or os.cpu_count() or 1)
        others: dict[str, Callable[[Path], Engine]] = {
            "duckdb": duckdb_engine,
            "spark": spark_engine,
            "ballista": lambda d: ballista_apache_engine(d, tasks=slots),
        }
        names = {"duckdb": "duckdb", "spark": "spark (local)", "ballista": "apache ballista"}
        for other in args.engines:
            engines.append((names[other], lambda other=other: others[other](data)))

    outcomes = run_engines(engines, sqls, args.runs)
    info = machine()
    header = (
        f"TPC-H SF{args.scale:g} ({args.parts} files per table), median of {args.runs} runs taken in turns after a warm-up pass over every query and a warm-up run; "
        f"{info['date']}, {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"datafusion {info['datafusion']}, pyarrow {info['pyarrow']}\n\n"
    )
    text = header + table(outcomes, queries)
    ours = next((o for e, o in outcomes.items() if e.startswith("ballista-flight") and o.profile), None)
    if ours is not None:
        text += "\nWhere ballista-flight's time went (first ballista-flight column):\n\n" + breakdown(
            ours, queries
        )
    publish(text, args.out, f"{label}.md")
    payload = {**info, "scale": args.scale, "parts": args.parts, "runs": args.runs,
               "engines": {e: o.__dict__ for e, o in outcomes.items()}}  # fmt: skip
    (args.out / f"{label}.json").write_text(json.dumps(payload, indent=1))
    chart(outcomes, queries, args.out / f"{label}.png", header.split(";", maxsplit=1)[0])
    return 0 if all(all(o.agree.values()) for o in outcomes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
