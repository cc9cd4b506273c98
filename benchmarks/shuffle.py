"""Shuffle micro-benchmark: moving one stage's output between two executors.

Runs a query whose map stage hash-partitions nine lineitem columns (TPC-H SF1,
6M rows) on a 2-executor cluster. Beside it, in the same run, raw
pyarrow.flight DoGet loopback throughput of the same columns between two
processes, one stream. Two figures for the cluster:

* **isolated**: once the map stage has run (GetFlightInfo returned) and before
  the result is read, every shuffle partition one executor holds is moved, one
  stream at a time, by the consuming executor's own code path (a signed fetch
  ticket, Flight DoGet from the executor's shuffle store with the executor's
  call options (buffers aligned on arrival, as DataFusion needs them), the
  batches kept in memory by ``executor.task.read_source``, ready for the task's
  plan) with nothing else running. This is the transfer itself.
* **isolated, then read by the plan**: the same, and then every row of those
  batches read by the consumer's input scan (``executor.inputs``: the function
  handing each batch over and the unnest), as the task's plan reads them.
* **inside the query**: from the job profile, the bytes the consuming tasks
  fetched from the *other* executor over the time those fetches took, summed
  per stream, while four tasks share two cores.

    python benchmarks/shuffle.py --scale 1
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from ballista_flight.allocator import configure

# The isolated moves run the consuming executor's code in this process: give it (and the raw
# DoGet's server and client, for the same footing) the executors' allocator settings.
configure()

import pyarrow as pa  # noqa: E402
from pyarrow import flight  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import publish, read_with_input_scan, script_parser  # noqa: E402
from tests.conftest import tpch_data  # noqa: E402

COLUMNS = "l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_tax, l_shipdate"
QUERY = f"""
SELECT sum(l_partkey + l_suppkey + l_linenumber + rn) AS s, sum(l_quantity + l_extendedprice + l_discount + l_tax) AS m,
       max(l_shipdate) AS d
FROM (SELECT {COLUMNS}, row_number() OVER (PARTITION BY l_orderkey ORDER BY l_linenumber) AS rn FROM lineitem)
"""

# Below about SF1 lineitem's files are under the scheduler's small-query threshold and the
# query would run as one task, with nothing to move: distribute it at every scale.
ALWAYS_DISTRIBUTE = ["--small-query-bytes", "0"]

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


class RawServer:
    """A plain pyarrow.flight server in its own process serving the columns as one stream."""

    def __init__(self, data: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, f"{data / 'lineitem'}/"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        port, self.nbytes = (int(x) for x in self.proc.stdout.readline().split())
        self.client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
        self.once()  # warm-up

    def once(self) -> float:
        """Seconds for one DoGet of all the columns."""
        started = time.perf_counter()
        self.client.do_get(flight.Ticket(b"x")).read_all()
        return time.perf_counter() - started

    def best(self) -> float:
        """The faster of two DoGets: a reference to pair a measurement with, undisturbed by
        whatever the cluster was finishing a moment before (that would flatter the share)."""
        return min(self.once(), self.once())

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait()


def cluster_shuffle(data: Path, mode: str, runs: int) -> tuple[int, float, float]:
    """Remote bytes, remote-fetch seconds (median over runs) and query seconds."""
    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    with StandaloneCluster(
        executors=2, shuffle=mode, log_level="warning", extra_scheduler_args=ALWAYS_DISTRIBUTE
    ) as cluster:
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


class Isolated(NamedTuple):
    """Medians of the isolated runs: seconds, and shares of the paired raw DoGet's rate."""

    moved: int
    seconds: float
    share: float
    read_s: float
    read_share: float


def isolated_fetch(data: Path, mode: str, runs: int, raw: RawServer) -> Isolated:
    """Bytes of one executor's shuffle partitions, the median seconds to move them all, and the
    median share of raw DoGet's rate, each run against the faster of two raw DoGets timed just
    before it (the machine is shared: rates drift between minutes, not between neighbouring
    seconds); then
    the same two figures for the move followed by the consumer's plan reading every row."""
    import secrets

    import ballista_flight
    from ballista_flight.executor.task import scan_schema, schema_from_ipc
    from ballista_flight.proto import ballista_flight_pb2 as pb
    from ballista_flight.standalone import StandaloneCluster
    from ballista_flight.tickets import sign

    secret = secrets.token_urlsafe(32)
    args = ["--cluster-secret", secret, *ALWAYS_DISTRIBUTE]
    with StandaloneCluster(
        executors=2, shuffle=mode, log_level="warning", extra_scheduler_args=args
    ) as cluster:
        ctx = ballista_flight.connect(cluster.uri)
        ctx.register_parquet("lineitem", f"{data / 'lineitem'}/")
        ctx.close()
        times: list[float] = []
        shares: list[float] = []
        read_times: list[float] = []
        read_shares: list[float] = []
        moved = 0
        scheduler = flight.FlightClient(cluster.uri)
        listed = json.loads(next(iter(scheduler.do_action(("list_executors", b"")))).body.to_pybytes())
        uris = {e["executor_id"]: e["uri"] for e in listed}
        for run in range(runs + 1):
            # GetFlightInfo: the map stage has run; its output waits for the result tasks.
            info = scheduler.get_flight_info(flight.FlightDescriptor.for_command(QUERY.encode()))
            job_id = info.app_metadata.decode()
            profile = json.loads(
                next(iter(scheduler.do_action(("job_profile", info.app_metadata)))).body.to_pybytes()
            )
            # The biggest repartitioned stage output, as its map tasks left it on one executor.
            maps = [t for t in profile["tasks"] if len(t.get("bucketRows", [])) > 1]
            stage_id = max(
                {int(t.get("stageId", 0)) for t in maps},
                key=lambda sid: sum(int(t.get("bytes", 0)) for t in maps if int(t.get("stageId", 0)) == sid),
            )
            mine = [
                t for t in maps if int(t.get("stageId", 0)) == stage_id and t["executorId"] == "executor-0"
            ]
            schema = scan_schema(schema_from_ipc(base64.b64decode(mine[0]["schema"])))
            keys = [
                (int(t.get("partition", 0)), bucket)
                for t in mine
                for bucket, rows in enumerate(t["bucketRows"])
                if int(rows)
            ]
            tickets = [
                flight.Ticket(
                    sign(
                        pb.Ticket(
                            fetch=pb.FetchTicket(
                                job_id=job_id, stage_id=stage_id, map_partition=map_partition, bucket=bucket
                            )
                        ),
                        secret.encode(),
                        60.0,
                    )
                )
                for map_partition, bucket in keys
            ]
            raw_s = raw.best()
            with flight.FlightClient(uris["executor-0"]) as peer:
                seconds, moved, _ = _move(peer, tickets, schema)
                read_raw_s = raw.best()
                moved_s, read, parts = _move(peer, tickets, schema)
                read_s = moved_s + _read_by_plan(parts, schema)
            if run:  # the first is a warm-up
                times.append(seconds)
                shares.append((moved / seconds) / (raw.nbytes / raw_s))
                read_times.append(read_s)
                read_shares.append((read / read_s) / (raw.nbytes / read_raw_s))
            for endpoint in info.endpoints:  # finish the job: its shuffle data is released
                with flight.FlightClient(endpoint.locations[0]) as executor:
                    executor.do_get(endpoint.ticket).read_all()
        scheduler.close()
    return Isolated(
        moved,
        statistics.median(times),
        statistics.median(shares),
        statistics.median(read_times),
        statistics.median(read_shares),
    )


def _move(
    peer: flight.FlightClient, tickets: list[flight.Ticket], schema: pa.Schema
) -> tuple[float, int, list[list[pa.RecordBatch]]]:
    """Seconds and bytes to fetch every ticket's partition, one stream at a time, into memory
    with the consumer's own code; the batches, one list per partition."""
    import tempfile

    from ballista_flight.executor.inputs import FETCH_OPTIONS, InputBudget
    from ballista_flight.executor.task import Source, read_source

    budget = InputBudget(1 << 62)  # all of it in memory, as under the default limit
    started = time.perf_counter()
    moved = 0
    parts = []
    with tempfile.TemporaryDirectory() as scratch:
        for ticket in tickets:
            reader = peer.do_get(ticket, FETCH_OPTIONS).to_reader()
            fetched = read_source(Source(reader=reader, remote=True), schema, budget, Path(scratch))
            parts.append(fetched.batches)
            moved += fetched.remote
    return time.perf_counter() - started, moved, parts


def _read_by_plan(parts: list[list[pa.RecordBatch]], schema: pa.Schema) -> float:
    """Seconds for the consumer's input scan to read every row of ``parts``, partitions at once."""
    started = time.perf_counter()
    rows = read_with_input_scan(parts, schema)
    if rows != sum(b.num_rows for batches in parts for b in batches):
        msg = f"the input scan read {rows} rows of {sum(len(p) for p in parts)} partitions' batches"
        raise SystemExit(msg)
    return time.perf_counter() - started


def main() -> int:
    args = script_parser(__doc__, runs=5).parse_args()
    data = tpch_data(args.scale, 4)
    raw = RawServer(data)
    try:
        raw_s = statistics.median(raw.once() for _ in range(args.runs))
        raw_bytes = raw.nbytes
        raw_rate = raw_bytes / raw_s
        lines = [
            f"Shuffle of 9 lineitem columns, TPC-H SF{args.scale:g}, median of {args.runs}",
            "",
            "| path | MB moved | seconds | MB/s per stream | share of raw DoGet |",
            "|---|---|---|---|---|",
            f"| raw pyarrow.flight DoGet, one stream | {raw_bytes / 1e6:.0f} | {raw_s:.3f} | {raw_rate / 1e6:.0f} | 100% |",
        ]
        for mode in ("memory", "disk"):
            got = isolated_fetch(data, mode, args.runs, raw)
            mb = got.moved / 1e6
            lines.append(
                f"| ballista-flight executor to executor, {mode} shuffle, isolated | {mb:.0f} | "
                f"{got.seconds:.3f} | {mb / got.seconds:.0f} | {got.share:.0%} |"
            )
            lines.append(
                f"| the same, then every row read by the consumer's plan | {mb:.0f} | "
                f"{got.read_s:.3f} | {mb / got.read_s:.0f} | {got.read_share:.0%} |"
            )
    finally:
        raw.close()
    for mode in ("memory", "disk"):
        remote, seconds, elapsed = cluster_shuffle(data, mode, args.runs)
        rate = remote / seconds if seconds else 0.0
        lines.append(
            f"| ballista-flight executor to executor, {mode} shuffle, inside the query ({elapsed:.2f}s) | "
            f"{remote / 1e6:.0f} | "
            f"{seconds:.3f} | {rate / 1e6:.0f} | {rate / raw_rate:.0%} |"
        )
    publish("\n".join(lines) + "\n", args.out, f"shuffle-sf{args.scale:g}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
