"""A/B: this working tree against an earlier revision, TPC-H query by query, taking turns.

Two clusters (2 executors each) run side by side: one from this checkout, one from
a git revision checked out into a temporary worktree (its ``src/`` first on the
executors' and scheduler's ``PYTHONPATH``). Single-process DataFusion takes turns
with them. Each round runs every query once on each engine, the order of the three
rotated from query to query, so every ratio compares the same minutes of a
machine whose speed drifts between minutes. Every answer is checked against
DataFusion's.

    python benchmarks/ab.py --base HEAD --rounds 3 --scale 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import RESULTS, publish  # noqa: E402
from benchmarks.tpch import QUERIES, Engine, ballista_flight_engine, datafusion_engine  # noqa: E402
from tests.compare import assert_same_result  # noqa: E402
from tests.conftest import tpch_data  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="HEAD", help="git revision to compare with (default: HEAD)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--shuffle", choices=["memory", "disk"], default="memory")
    parser.add_argument("--queries", nargs="*", help="e.g. q01 q09 (default: all 22)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    data = tpch_data(args.scale, 4)
    queries = args.queries or sorted(p.stem for p in QUERIES.glob("q*.sql"))
    sqls = {q: (QUERIES / f"{q}.sql").read_text() for q in queries}
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    worktree = Path(tempfile.mkdtemp(prefix="ab-base-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), revision], cwd=ROOT, check=True)
    engines: dict[str, Engine] = {}
    try:
        engines["datafusion"] = datafusion_engine(data)
        base = {"PYTHONPATH": str(worktree / "src")}
        engines[f"base ({revision})"] = ballista_flight_engine(data, 2, args.shuffle, env=base)
        engines["this tree"] = ballista_flight_engine(data, 2, args.shuffle)
        names = list(engines)
        seconds: dict[str, dict[str, list[float]]] = {n: {q: [] for q in queries} for n in names}
        for q, sql in sqls.items():  # warm-up pass, answers checked
            expected = engines["datafusion"].run(sql)
            for name, engine in engines.items():
                ordered = "order by" in sql.lower()
                assert_same_result(engine.run(sql), expected, ordered=ordered, context=f"{q} on {name}")
        for round_ in range(args.rounds):
            for i, (q, sql) in enumerate(sqls.items()):
                shift = (i + round_) % len(names)
                for name in names[shift:] + names[:shift]:
                    started = time.perf_counter()
                    engines[name].run(sql)
                    seconds[name][q].append(time.perf_counter() - started)
    finally:
        for engine in engines.values():
            engine.close()
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    medians = {n: {q: statistics.median(v) for q, v in per.items()} for n, per in seconds.items()}
    lines = [
        f"A/B, TPC-H SF{args.scale:g}, {args.shuffle} shuffle, 2 executors each, median of {args.rounds} rounds taking turns",
        "",
        "| query | " + " | ".join(names) + " | this tree / base |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    base_name, head_name = names[1], names[2]
    for q in queries:
        df = medians["datafusion"][q]
        cells = [f"{medians[n][q]:.3f} ({medians[n][q] / df:.2f}x)" for n in names]
        lines.append(
            f"| {q} | " + " | ".join(cells) + f" | {medians[head_name][q] / medians[base_name][q]:.2f} |"
        )
    totals = {n: sum(medians[n].values()) for n in names}
    cells = [f"**{totals[n]:.2f}** ({totals[n] / totals['datafusion']:.2f}x)" for n in names]
    lines.append("| total | " + " | ".join(cells) + f" | {totals[head_name] / totals[base_name]:.2f} |")
    publish("\n".join(lines) + "\n", args.out, f"ab-sf{args.scale:g}-{args.shuffle}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
