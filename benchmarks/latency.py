"""Interactive latency: small queries end to end through the plain Flight flow.

Median and p90 over --runs of GetFlightInfo plus DoGet of every endpoint, for
`SELECT 1` and a point query on a small table, on a 2-executor standalone
cluster, beside single-process DataFusion on the same query.

    python benchmarks/latency.py --runs 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from pyarrow import flight

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import tpch_data  # noqa: E402

QUERIES = {
    "SELECT 1": "SELECT 1",
    "point query on nation": "SELECT n_name FROM nation WHERE n_nationkey = 7",
}


def flight_once(client: flight.FlightClient, peers: dict[str, flight.FlightClient], sql: str) -> float:
    started = time.perf_counter()
    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
    for endpoint in info.endpoints:
        where = client
        if endpoint.locations:
            uri = endpoint.locations[0].uri.decode()
            where = peers.get(uri) or peers.setdefault(uri, flight.FlightClient(uri))
        where.do_get(endpoint.ticket).read_all()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    from datafusion import SessionContext

    import ballista_flight
    from ballista_flight.standalone import StandaloneCluster

    data = tpch_data(0.1, 4)
    reference = SessionContext()
    reference.register_parquet("nation", f"{data / 'nation'}/")
    lines = ["| query | ballista-flight median ms | p90 ms | datafusion median ms |", "|---|---|---|---|"]
    with StandaloneCluster(executors=2, log_level="warning") as cluster:
        with ballista_flight.connect(cluster.uri) as ctx:
            ctx.register_parquet("nation", f"{data / 'nation'}/")
        peers: dict[str, flight.FlightClient] = {}
        with flight.FlightClient(cluster.uri) as client:
            for label, sql in QUERIES.items():
                for _ in range(5):
                    flight_once(client, peers, sql)
                ours = sorted(flight_once(client, peers, sql) for _ in range(args.runs))
                theirs = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    reference.sql(sql).to_arrow_table()
                    theirs.append(time.perf_counter() - started)
                p90 = ours[int(len(ours) * 0.9) - 1]
                lines.append(
                    f"| {label} | {statistics.median(ours) * 1e3:.1f} | {p90 * 1e3:.1f} | "
                    f"{statistics.median(theirs) * 1e3:.1f} |"
                )
        for peer in peers.values():
            peer.close()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
