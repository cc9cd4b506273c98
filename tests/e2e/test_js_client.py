"""A JavaScript Flight SQL client from npm (@gizmodata/gizmosql-client), run with node.

tests/js pins the client in package.json and package-lock.json; its node_modules is
installed here with ``npm ci`` (once per lock file). Without node or npm on the PATH the
tests are skipped with that reason; an npm registry that cannot be reached fails them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ballista_flight.standalone import StandaloneCluster
from tests.compare import assert_same_result
from tests.conftest import QUERIES_DIR, ROOT, TPCH_TABLES

JS_DIR = ROOT / "tests" / "js"
NODE, NPM = shutil.which("node"), shutil.which("npm")
NPM_CI_TIMEOUT_S = 300
NODE_TIMEOUT_S = 120
USER, PASSWORD = "analyst", "js-secret"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        NODE is None or NPM is None,
        reason=f"needs node and npm on the PATH (node: {NODE}, npm: {NPM})",
    ),
]


@pytest.fixture(scope="module")
def js_client() -> Path:
    """tests/js with node_modules exactly as package-lock.json says; reinstalled when the lock changes."""
    digest = hashlib.sha256(
        (JS_DIR / "package.json").read_bytes() + (JS_DIR / "package-lock.json").read_bytes()
    ).hexdigest()
    stamp = JS_DIR / "node_modules" / ".ballista-flight-lock"
    if stamp.exists() and stamp.read_text() == digest:
        return JS_DIR
    command = [str(NPM), "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            command, cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`npm ci` in {JS_DIR} took over {NPM_CI_TIMEOUT_S}s: is the npm registry reachable?")
    if done.returncode != 0:
        pytest.fail(
            f"`npm ci` in {JS_DIR} failed (exit {done.returncode}); the npm registry must be reachable:\n"
            + (done.stdout + done.stderr)[-2000:]
        )
    stamp.write_text(digest)
    return JS_DIR


def node(
    js_dir: Path, uri: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run tests/js/query.mjs as its users would: a node process of its own."""
    return subprocess.run(
        [str(NODE), str(js_dir / "query.mjs"), uri, *args],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        check=False,
    )


def node_json(js_dir: Path, uri: str, *args: str, env: dict[str, str] | None = None) -> Any:
    done = node(js_dir, uri, *args, env=env)
    assert done.returncode == 0, f"node query.mjs {args[0]} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def _converter(kind: pa.DataType) -> Callable[[Any], Any]:
    if pa.types.is_decimal(kind):
        return decimal.Decimal
    if pa.types.is_integer(kind):
        return int  # 64-bit integers arrive as exact strings
    if pa.types.is_date(kind):
        return dt.date.fromisoformat
    return lambda value: value


def _js_type(kind: pa.DataType) -> str | None:
    """Arrow JS's name for the types JavaScript most easily gets wrong; None: not checked."""
    if isinstance(kind, pa.Decimal128Type):
        return f"Decimal[{kind.precision}e{'+' if kind.scale > 0 else ''}{kind.scale}]"
    if kind == pa.int64():
        return "Int64"
    return None


def js_table(result: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """The client's JSON rows as an Arrow table of ``schema`` (exact decimals and 64-bit integers)."""
    columns = result["columns"]
    assert [c["name"] for c in columns] == schema.names
    for column, field in zip(columns, schema, strict=True):
        expected = _js_type(field.type)
        assert expected is None or column["type"] == expected, f"{field.name}: {column['type']}"
    values = list(zip(*result["rows"], strict=True)) or [() for _ in schema]
    arrays = [
        pa.array([None if v is None else _converter(f.type)(v) for v in column], type=f.type)
        for column, f in zip(values, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def create_tables(tpch_dir: Path) -> list[str]:
    return [f"CREATE EXTERNAL TABLE {t} STORED AS PARQUET LOCATION '{tpch_dir / t}/'" for t in TPCH_TABLES]


@pytest.fixture(scope="module")
def js_cluster(js_client: Path, tpch_dir: Path) -> Iterator[StandaloneCluster]:
    """A cluster whose tables the JavaScript client itself created (DDL through execute())."""
    with StandaloneCluster(executors=2, shuffle="memory", log_level="warning") as cluster:
        node_json(js_client, cluster.uri, "execute", *create_tables(tpch_dir))
        yield cluster


# A join and aggregate with no ORDER BY: one endpoint per final partition, at the executors.
NATION_ORDERS = (
    "SELECT n_name, count(*) AS orders, sum(o_totalprice) AS total, min(o_orderdate) AS first "
    "FROM orders JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey "
    "GROUP BY n_name"
)


def test_tpch_q1_through_execute_matches_datafusion(
    js_client: Path, js_cluster: StandaloneCluster, reference: Any
) -> None:
    sql = (QUERIES_DIR / "q01.sql").read_text()
    expected = reference.sql(sql).to_arrow_table()
    got = js_table(node_json(js_client, js_cluster.uri, "execute", sql), expected.schema)
    assert_same_result(got, expected, ordered=True, context="q01 via JavaScript")


def test_every_endpoint_fetched_from_the_executors_matches_datafusion(
    js_client: Path, js_cluster: StandaloneCluster, reference: Any
) -> None:
    result = node_json(js_client, js_cluster.uri, "query", NATION_ORDERS)
    assert len(result["locations"]) > 1
    assert all(where and where != js_cluster.uri for where in result["locations"])  # at the executors
    expected = reference.sql(NATION_ORDERS).to_arrow_table()
    assert_same_result(js_table(result, expected.schema), expected, ordered=False)


def test_catalog_calls_list_the_registered_tables(js_client: Path, js_cluster: StandaloneCluster) -> None:
    found = node_json(js_client, js_cluster.uri, "metadata", "line%")
    public = [t for t in found["tables"] if t["schema"] == "public"]
    assert sorted(t["tableName"] for t in public) == sorted(TPCH_TABLES)
    assert {t["catalog"] for t in public} == {"datafusion"}
    assert {t["tableType"] for t in public} == {"TABLE"}
    assert [t["tableName"] for t in found["tablesLike"]] == ["lineitem"]
    assert found["catalogs"] == ["datafusion"]
    assert {"catalog": "datafusion", "schema": "public"} in found["schemas"]
    assert "TABLE" in found["tableTypes"]


def test_unknown_table_is_one_clear_line(js_client: Path, js_cluster: StandaloneCluster) -> None:
    failed = node(js_client, js_cluster.uri, "execute", "SELECT * FROM no_such_table")
    assert failed.returncode == 1
    assert "no_such_table" in failed.stderr
    assert "Traceback" not in failed.stderr
    ok = node_json(js_client, js_cluster.uri, "execute", "SELECT count(*) AS n FROM region")
    assert ok["rows"] == [["5"]]


def test_login_over_tls_then_fetch_from_executors(js_client: Path, tpch_dir: Path, reference: Any) -> None:
    """Basic on the handshake, the returned bearer token at the executors, every call over TLS."""
    with StandaloneCluster(
        executors=2, auth_users=f"{USER}:{PASSWORD}", tls=True, log_level="warning"
    ) as cluster:
        assert cluster.tls_files is not None
        env = {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(cluster.tls_files.ca)}
        wrong = node(js_client, cluster.uri, "catalogs", env={**env, "BF_USER": USER, "BF_PASSWORD": "nope"})
        assert wrong.returncode == 1
        assert "wrong user name or password" in wrong.stderr
        anonymous = node(js_client, cluster.uri, "catalogs", env=env)
        assert anonymous.returncode == 1
        assert "authentication required" in anonymous.stderr

        login = {**env, "BF_USER": USER, "BF_PASSWORD": PASSWORD}
        node_json(js_client, cluster.uri, "execute", *create_tables(tpch_dir), env=login)
        result = node_json(js_client, cluster.uri, "query", NATION_ORDERS, env=login)
        assert len(result["locations"]) > 1
        assert all(where.startswith("grpc+tls://") and where != cluster.uri for where in result["locations"])
    expected = reference.sql(NATION_ORDERS).to_arrow_table()
    assert_same_result(js_table(result, expected.schema), expected, ordered=False)
