"""Tables and COPY targets on S3: a real S3-protocol server (moto) on loopback.

TPC-H Parquet is uploaded into a bucket of a moto server started here; the
cluster reaches it with its --s3-* settings. Query results must equal the same
queries over the local files.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

import ballista_flight
from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR
from tests.e2e.cluster_utils import executors

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from datafusion import SessionContext

pytestmark = pytest.mark.slow

BUCKET = "tpch"
KEY_ID, SECRET = "test-key", "test-secret"


@pytest.fixture(scope="module")
def s3(tpch_dir: Path) -> Iterator[tuple[str, Any]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    for path in sorted((tpch_dir / "lineitem").iterdir()):
        client.upload_file(str(path), BUCKET, f"lineitem/{path.name}")
    try:
        yield endpoint, client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_cluster(s3: tuple[str, Any]) -> Iterator[StandaloneCluster]:
    endpoint, _ = s3
    flags = ["--s3-endpoint", endpoint, "--s3-allow-http", "--s3-region", "us-east-1",
             "--s3-access-key-id", KEY_ID, "--s3-secret-access-key", SECRET]  # fmt: skip
    with StandaloneCluster(executors=2, extra_scheduler_args=flags, extra_executor_args=flags) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def ctx(s3_cluster: StandaloneCluster) -> ballista_flight.Context:
    ctx = ballista_flight.connect(s3_cluster.uri, timeout=120)
    ctx.register_parquet("lineitem", f"s3://{BUCKET}/lineitem/")
    return ctx


@pytest.mark.parametrize("query", ["q01", "q06"])
def test_tpch_over_s3_equals_local_files(
    query: str, ctx: ballista_flight.Context, reference: SessionContext
) -> None:
    sql = (QUERIES_DIR / f"{query}.sql").read_text()
    assert_same_result(
        ctx.sql(sql).to_arrow(), reference.sql(sql).to_arrow_table(), ordered=True, context=query
    )


def test_copy_to_s3_writes_there(
    ctx: ballista_flight.Context,
    s3: tuple[str, Any],
    s3_cluster: StandaloneCluster,
    reference: SessionContext,
) -> None:
    _, client = s3
    query = "SELECT l_orderkey, l_quantity, l_returnflag FROM lineitem WHERE l_orderkey % 5 = 0"
    written = ctx.execute(
        f"COPY ({query}) TO 's3://{BUCKET}/out/' STORED AS PARQUET PARTITIONED BY (l_returnflag)"
    )
    expected = reference.sql(query).to_arrow_table()
    assert written.column("count").to_pylist() == [expected.num_rows]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    out = [k for k in keys if k.startswith("out/")]
    assert {k.split("/")[1] for k in out} == {"l_returnflag=A", "l_returnflag=N", "l_returnflag=R"}
    ids = [e["executor_id"] for e in executors(s3_cluster.uri)]
    assert len({e for k in out for e in ids if e in k}) > 1, out
    assert not [k for k in keys if ".ballista-" in k], "temporary objects were left"
    ctx.register_parquet("written", f"s3://{BUCKET}/out/")
    back = ctx.sql("SELECT l_orderkey, l_quantity FROM written").to_arrow()
    assert_same_result(back, expected.select(["l_orderkey", "l_quantity"]), ordered=False)
