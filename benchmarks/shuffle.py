"""Shuffle micro-benchmark: moving one stage's output between two executors.

Runs a query whose map stage hash-partitions nine lineitem columns (TPC-H SF1,
6M rows) on a 2-executor cluster, and reads from the job profile how many bytes
the consuming tasks fetched from the *other* executor and how long those
fetches took (Flight DoGet plus writing the task's input file). Beside it, in
the same run, raw pyarrow.flight DoGet loopback throughput of the same columns
between two processes, one stream.

    python benchmarks/shuffle.py --scale 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pyarrow import flight

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import tpch_data  # noqa: E402

COLUMNS = "l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_tax, l_shipdate"
QUERY = f"""
SELECT sum(l_partkey + l_suppkey + l_linenumber + rn) AS s, sum(l_quantity + l_extendedprice + l_discount + l_tax) AS m,
       max(l_shipdate) AS d
FROM (SELECT {COLUMNS}, row_number() OVER (PARTITION BY l_orderkey ORDER BY l_linenumber) AS rn FROM lineitem)
"""

SERVER = """
import sys, pyarrow as pa, pyarrow.flight as flight
from datafusion import SessionContext
ctx = SessionContext()
ctx.register_parquet("lineitem", sys.argv[1])
table = ctx.sql("SELECT {columns} FROM lineitem").to_arrow_table()
class Server(flight.FlightServerBase):
    def do_get(self, context, ticket):
        return flight.RecordBatchStream(table)
server = Server("grpc://127.0.0.1:0")
print(server.port, table.nbytes, flush=True)
server.serve()
""".replace("{columns}", COLUMNS)


def raw_flight(data: Path, runs: int) -> tuple[int, float]:
    """Bytes and median seconds of one DoGet of the columns between two processes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, f"{data / 'lineitem'}/"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port, nbytes = (int(x) for x in proc.stdout.readline().split())
        with flight.FlightClient(f"grpc://127.0.0.1:{port}") as client:
            client.do_get(flight.Ticket(b"x")).read_all()  # warm-up
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                client.do_get(flight.Ticket(b"x")).read_all()
                times.append(time.perf_counter() - started)
        return nbytes, statistics.median(times)
    finally:
        proc.terminate()
        proc.wait()


def cluster_shuffle(data: Path, mode: str, runs: int) -> tuple[int, float, float]:
    """Remote bytes, remote-fetch seconds (median over runs) and query seconds."""
    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    with StandaloneCluster(executors=2, shuffle=mode, log_level="warning") as cluster:
        ctx = ballista_flight.connect(cluster.uri)
        ctx.register_parquet("lineitem", f"{data / 'lineitem'}/")
        ctx.sql(QUERY).to_arrow()  # warm-up
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            result = ctx.sql(QUERY)
            result.to_arrow()
            elapsed = time.perf_counter() - started
            assert result.info is not None
            with flight.FlightClient(cluster.uri) as client:
                body = next(iter(client.do_action(("job_profile", result.info.app_metadata)))).body
            tasks = json.loads(body.to_pybytes())["tasks"]
            remote = sum(int(t.get("bytesFetchedRemote", 0)) for t in tasks)
            seconds = sum(float(t.get("remoteFetchS", 0.0)) for t in tasks)
            samples.append((remote, seconds, elapsed))
        ctx.close()
    samples.sort(key=lambda s: s[0] / s[1] if s[1] else 0)
    return samples[len(samples) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    data = tpch_data(args.scale, 4)
    raw_bytes, raw_s = raw_flight(data, args.runs)
    raw_rate = raw_bytes / raw_s
    lines = [
        f"Shuffle of 9 lineitem columns, TPC-H SF{args.scale:g}, median of {args.runs}",
        "",
        "| path | MB moved | seconds | MB/s per stream | share of raw DoGet |",
        "|---|---|---|---|---|",
        f"| raw pyarrow.flight DoGet, one stream | {raw_bytes / 1e6:.0f} | {raw_s:.3f} | {raw_rate / 1e6:.0f} | 100% |",
    ]
    for mode in ("memory", "disk"):
        remote, seconds, elapsed = cluster_shuffle(data, mode, args.runs)
        rate = remote / seconds if seconds else 0.0
        lines.append(
            f"| ballista-flight executor to executor, {mode} shuffle (query {elapsed:.2f}s) | {remote / 1e6:.0f} | "
            f"{seconds:.3f} | {rate / 1e6:.0f} | {rate / raw_rate:.0%} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"shuffle-sf{args.scale:g}.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
