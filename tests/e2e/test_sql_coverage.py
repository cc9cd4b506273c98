"""SQL coverage: every kind of exchange and operator, distributed vs single-process DataFusion.

The data is made here with pyarrow (deterministic, NULL-heavy, duplicate keys,
several files per table) and written as Parquet and CSV. The same files are
registered in the cluster (through the client) and in a default
``datafusion.SessionContext``; each query's distributed result must equal the
single-process one, with memory and with disk shuffle. A second test checks a
handful of queries against DuckDB as an independent engine.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext

import ballista_flight
from tests.compare import assert_same_result

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ballista_flight.standalone import StandaloneCluster

pytestmark = pytest.mark.slow

# Table names are prefixed so the session-scoped clusters never collide with other modules.
ORDERS = "cov_orders"  # Parquet, a directory of 4 files
CUSTOMERS = "cov_customers"  # CSV, a directory of 3 files, explicit schema
CUSTOMERS_GLOB = "cov_customers_glob"  # the same CSV files through a glob, inferred schema
ITEMS = "cov_items"  # Parquet through a glob that must skip a decoy file of another schema
REGIONS = "cov_regions"  # one '|'-delimited CSV file, inferred schema
EMPTY = "cov_empty"  # one Parquet file with no rows, the schema of cov_orders

N_ORDERS = 3000
N_CUSTOMERS = 400
N_ITEMS = 5000
STATUSES = ["OPEN", "SHIPPED", "RETURNED", "CANCELLED", "ÜBER-straße"]
SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY"]


# --------------------------------------------------------------------------- data


def _maybe(rng: random.Random, p_null: float, value: object) -> object:
    return None if rng.random() < p_null else value


def _orders(rng: random.Random) -> pa.Table:
    ids = list(range(1, N_ORDERS + 1))
    rng.shuffle(ids)  # files are not sorted by the key
    base = dt.date(2020, 1, 1)
    rows = []
    for oid in ids:
        rows.append(
            {
                "o_id": oid,
                # customers 1..400 exist; 401..450 never match; 8% NULL
                "o_cust": _maybe(rng, 0.08, rng.randint(1, 450)),
                "o_region": _maybe(rng, 0.05, rng.randint(1, 5)),
                "o_date": _maybe(rng, 0.05, base + dt.timedelta(days=rng.randint(0, 1000))),
                "o_amount": _maybe(rng, 0.10, decimal.Decimal(rng.randint(100, 99999)) / 100),
                "o_discount": _maybe(rng, 0.15, round(rng.uniform(0.0, 0.5), 2)),
                "o_status": _maybe(rng, 0.10, rng.choice(STATUSES)),
                "o_priority": _maybe(rng, 0.30, rng.randint(1, 5)),
                # mostly NULL, some empty strings
                "o_note": _maybe(rng, 0.85, rng.choice(["", "rush", "gift", "fragile, handle with care"])),
            }
        )
    schema = pa.schema(
        [
            ("o_id", pa.int64()),
            ("o_cust", pa.int64()),
            ("o_region", pa.int32()),
            ("o_date", pa.date32()),
            ("o_amount", pa.decimal128(12, 2)),
            ("o_discount", pa.float64()),
            ("o_status", pa.string()),
            ("o_priority", pa.int32()),
            ("o_note", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _customers(rng: random.Random) -> pa.Table:
    ids: list[int | None] = list(range(1, N_CUSTOMERS + 1))
    ids += [rng.randint(1, N_CUSTOMERS) for _ in range(15)]  # duplicate keys
    ids += [None] * 12  # NULL keys
    rng.shuffle(ids)
    base = dt.date(2015, 1, 1)
    rows = []
    for i, cid in enumerate(ids):
        name = f"Customer#{i:04d}"
        if i % 37 == 0:
            name += ", Jr."  # a delimiter inside a quoted CSV field
        rows.append(
            {
                "c_id": cid,
                "c_region": _maybe(rng, 0.05, rng.randint(1, 6)),
                "c_name": name,
                "c_segment": _maybe(rng, 0.20, rng.choice(SEGMENTS)),
                "c_balance": _maybe(rng, 0.10, round(rng.uniform(1.0, 9999.0), 2)),
                "c_since": _maybe(rng, 0.10, base + dt.timedelta(days=rng.randint(0, 2000))),
                "c_credit": _maybe(rng, 0.25, decimal.Decimal(rng.randint(0, 80000)) / 100),
            }
        )
    schema = pa.schema(
        [
            ("c_id", pa.int64()),
            ("c_region", pa.int64()),
            ("c_name", pa.string()),
            ("c_segment", pa.string()),
            ("c_balance", pa.float64()),
            ("c_since", pa.date32()),
            ("c_credit", pa.decimal128(10, 2)),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _items(rng: random.Random) -> pa.Table:
    rows = []
    for iid in range(1, N_ITEMS + 1):
        rows.append(
            {
                "i_id": iid,
                "i_order": _maybe(rng, 0.05, rng.randint(1, N_ORDERS + 200)),
                "i_line": rng.randint(1, 7),
                "i_sku": _maybe(rng, 0.05, f"SKU-{rng.randint(1, 200):03d}"),
                "i_qty": _maybe(rng, 0.10, rng.randint(1, 50)),
                "i_price": round(rng.uniform(0.5, 500.0), 2),
            }
        )
    schema = pa.schema(
        [
            ("i_id", pa.int64()),
            ("i_order", pa.int64()),
            ("i_line", pa.int32()),
            ("i_sku", pa.string()),
            ("i_qty", pa.int32()),
            ("i_price", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _split(table: pa.Table, parts: int) -> list[pa.Table]:
    size = -(-table.num_rows // parts)
    return [table.slice(i * size, size) for i in range(parts)]


class Data(NamedTuple):
    """Where each table's files are, as registered in both engines."""

    orders: str
    customers: str
    customers_glob: str
    items: str
    regions: str
    empty: str


CUSTOMERS_COLUMNS = (
    "c_id BIGINT, c_region BIGINT, c_name VARCHAR, c_segment VARCHAR, "
    "c_balance DOUBLE, c_since DATE, c_credit DECIMAL(10, 2)"
)


def registration_statements(data: Data) -> list[str]:
    """DDL run identically by the cluster client and the reference context."""
    return [
        f"CREATE EXTERNAL TABLE {ORDERS} STORED AS PARQUET LOCATION '{data.orders}'",
        f"CREATE EXTERNAL TABLE {CUSTOMERS} ({CUSTOMERS_COLUMNS}) STORED AS CSV "
        f"LOCATION '{data.customers}' OPTIONS ('format.has_header' 'true')",
        f"CREATE EXTERNAL TABLE {ITEMS} STORED AS PARQUET LOCATION '{data.items}'",
        f"CREATE EXTERNAL TABLE {EMPTY} STORED AS PARQUET LOCATION '{data.empty}'",
    ]


@pytest.fixture(scope="module")
def coverage_data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    rng = random.Random(20240607)
    root = tmp_path_factory.mktemp("sql_coverage")

    orders = _orders(rng)
    orders_dir = root / "orders"
    orders_dir.mkdir()
    for i, part in enumerate(_split(orders, 4)):
        pq.write_table(part, orders_dir / f"part-{i}.parquet", row_group_size=400)

    customers = _customers(rng)
    customers_dir = root / "customers"
    customers_dir.mkdir()
    for i, part in enumerate(_split(customers, 3)):
        pacsv.write_csv(part, customers_dir / f"part-{i}.csv")

    items = _items(rng)
    items_dir = root / "items"
    items_dir.mkdir()
    for i, part in enumerate(_split(items, 3)):
        pq.write_table(part, items_dir / f"items_{i}.parquet")
    # A decoy in the same directory, with another schema: the glob must not pick it up.
    pq.write_table(pa.table({"junk": pa.array(["x", "y"])}), items_dir / "decoy_0.parquet")

    regions_file = root / "regions.csv"
    regions_file.write_text(
        "r_id|r_name|r_tax\n1|AFRICA|0.10\n2|AMERICA|0.20\n3|ASIA|\n4|EUROPE|0.05\n5|MIDDLE EAST|0.15\n7|NOWHERE|0.00\n"
    )

    empty_dir = root / "empty"
    empty_dir.mkdir()
    pq.write_table(orders.schema.empty_table(), empty_dir / "empty.parquet")

    return Data(
        orders=f"{orders_dir}/",
        customers=f"{customers_dir}/",
        customers_glob=f"{customers_dir}/part-*.csv",
        items=f"{items_dir}/items_*.parquet",
        regions=str(regions_file),
        empty=f"{empty_dir}/",
    )


@pytest.fixture(scope="module")
def reference_ctx(coverage_data: Data) -> SessionContext:
    """Single-process DataFusion with default settings, the same files."""
    ctx = SessionContext()
    for statement in registration_statements(coverage_data):
        ctx.sql(statement).collect()
    ctx.register_csv(CUSTOMERS_GLOB, coverage_data.customers_glob, has_header=True)
    ctx.register_csv(REGIONS, coverage_data.regions, has_header=True, delimiter="|")
    return ctx


@pytest.fixture(scope="module")
def cov_client(cluster: StandaloneCluster, coverage_data: Data) -> Iterator[ballista_flight.Context]:
    """A client of ``cluster`` (memory or disk shuffle) with the coverage tables registered."""
    ctx = ballista_flight.connect(cluster.uri, timeout=180)
    for name in (ORDERS, CUSTOMERS, CUSTOMERS_GLOB, ITEMS, REGIONS, EMPTY):
        ctx.execute(f"DROP TABLE IF EXISTS {name}")
    for statement in registration_statements(coverage_data):
        ctx.execute(statement)
    ctx.register_csv(CUSTOMERS_GLOB, coverage_data.customers_glob, has_header=True)
    ctx.register_csv(REGIONS, coverage_data.regions, has_header=True, delimiter="|")
    yield ctx
    ctx.close()


# --------------------------------------------------------------------------- queries


class Q(NamedTuple):
    id: str
    sql: str
    ordered: bool = False


QUERIES: list[Q] = [
    # ---- scans of every source and type (directory, CSV directory, glob, delimiter)
    Q("scan_parquet_dir_all_types", f"SELECT * FROM {ORDERS}"),
    Q("scan_csv_dir_explicit_schema", f"SELECT * FROM {CUSTOMERS}"),
    Q("scan_csv_glob_inferred", f"SELECT * FROM {CUSTOMERS_GLOB}"),
    Q("scan_parquet_glob_skips_decoy", f"SELECT * FROM {ITEMS}"),
    Q("scan_pipe_delimited_csv", f"SELECT * FROM {REGIONS}"),
    Q(
        "glob_aggregate",
        f"SELECT COUNT(*) AS n, SUM(i_qty) AS q, COUNT(DISTINCT i_sku) AS skus, "
        f"MIN(i_price) AS lo, MAX(i_price) AS hi FROM {ITEMS}",
    ),
    # ---- window functions
    Q(
        "win_row_number_partition",
        f"SELECT o_id, o_cust, ROW_NUMBER() OVER (PARTITION BY o_cust ORDER BY o_date, o_id) AS rn "
        f"FROM {ORDERS}",
    ),
    Q(
        "win_rank_dense_rank",
        f"SELECT o_id, o_status, o_region, "
        f"RANK() OVER (PARTITION BY o_status ORDER BY o_region DESC NULLS LAST) AS r, "
        f"DENSE_RANK() OVER (PARTITION BY o_status ORDER BY o_region) AS dr FROM {ORDERS}",
    ),
    Q(
        "win_running_sum_rows",
        f"SELECT o_id, o_region, SUM(o_amount) OVER (PARTITION BY o_region ORDER BY o_date, o_id "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM {ORDERS}",
    ),
    Q(
        "win_running_sum_range_ties",
        f"SELECT o_id, o_cust, SUM(o_discount) OVER (PARTITION BY o_cust ORDER BY o_priority "
        f"RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM {ORDERS}",
    ),
    Q(
        "win_range_interval_dates",
        f"SELECT o_id, COUNT(*) OVER (PARTITION BY o_region ORDER BY o_date "
        f"RANGE BETWEEN INTERVAL '30 days' PRECEDING AND CURRENT ROW) AS last_30d FROM {ORDERS}",
    ),
    Q(
        "win_sliding_rows_avg",
        f"SELECT i_id, AVG(i_price) OVER (PARTITION BY i_sku ORDER BY i_id "
        f"ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING) AS avg4 FROM {ITEMS}",
    ),
    Q(
        "win_lag_lead",
        f"SELECT o_id, LAG(o_amount) OVER (PARTITION BY o_cust ORDER BY o_id) AS prev_amount, "
        f"LEAD(o_status, 2, 'none') OVER (PARTITION BY o_cust ORDER BY o_id) AS next2_status "
        f"FROM {ORDERS}",
    ),
    Q(
        "win_no_partition",
        f"SELECT o_id, ROW_NUMBER() OVER (ORDER BY o_amount DESC NULLS LAST, o_id) AS rn, "
        f"SUM(o_amount) OVER () AS total, "
        f"SUM(o_amount) OVER (ORDER BY o_id ROWS UNBOUNDED PRECEDING) AS running FROM {ORDERS}",
    ),
    Q(
        "win_first_last_ntile_cume",
        f"SELECT o_id, FIRST_VALUE(o_id) OVER (PARTITION BY o_region ORDER BY o_amount, o_id) AS fv, "
        f"LAST_VALUE(o_id) OVER (PARTITION BY o_region ORDER BY o_amount, o_id "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS lv, "
        f"NTILE(4) OVER (PARTITION BY o_region ORDER BY o_id) AS quartile, "
        f"CUME_DIST() OVER (PARTITION BY o_region ORDER BY o_priority) AS cd, "
        f"PERCENT_RANK() OVER (PARTITION BY o_region ORDER BY o_priority) AS pr FROM {ORDERS}",
    ),
    Q(
        "win_qualify",
        f"SELECT o_cust, o_id, o_amount FROM {ORDERS} "
        f"QUALIFY ROW_NUMBER() OVER (PARTITION BY o_cust ORDER BY o_amount DESC NULLS LAST, o_id) <= 2",
    ),
    Q(
        "win_top_n_subquery_ordered",
        f"SELECT o_cust, o_id, rn FROM (SELECT o_cust, o_id, ROW_NUMBER() OVER "
        f"(PARTITION BY o_cust ORDER BY o_amount DESC NULLS LAST, o_id) AS rn FROM {ORDERS}) t "
        f"WHERE rn <= 3 ORDER BY o_cust NULLS FIRST, rn",
        ordered=True,
    ),
    Q(
        "win_over_group_by",
        f"SELECT o_region, SUM(o_amount) AS s, RANK() OVER (ORDER BY SUM(o_amount) DESC) AS r, "
        f"SUM(SUM(o_amount)) OVER () AS grand FROM {ORDERS} GROUP BY o_region",
    ),
    Q(
        "win_named_window_clause",
        f"SELECT o_id, SUM(o_amount) OVER w AS s, AVG(o_amount) OVER w AS a FROM {ORDERS} "
        f"WINDOW w AS (PARTITION BY o_status ORDER BY o_id)",
    ),
    # ---- set operations
    Q("union", f"SELECT o_cust AS k FROM {ORDERS} UNION SELECT c_id FROM {CUSTOMERS}"),
    Q(
        "union_all",
        f"SELECT o_status AS s, o_region AS r FROM {ORDERS} WHERE o_id % 7 = 0 "
        f"UNION ALL SELECT c_segment, c_region FROM {CUSTOMERS}",
    ),
    Q("intersect", f"SELECT o_cust FROM {ORDERS} INTERSECT SELECT c_id FROM {CUSTOMERS}"),
    Q("except", f"SELECT o_cust FROM {ORDERS} EXCEPT SELECT c_id FROM {CUSTOMERS}"),
    Q(
        "except_reverse_with_filter",
        f"SELECT c_id FROM {CUSTOMERS} EXCEPT SELECT o_cust FROM {ORDERS} WHERE o_status = 'OPEN'",
    ),
    Q(
        "intersect_two_columns_nulls",
        f"SELECT o_region, o_status FROM {ORDERS} WHERE o_id <= 1500 "
        f"INTERSECT SELECT o_region, o_status FROM {ORDERS} WHERE o_id > 2800",
    ),
    Q(
        "except_two_columns_nulls",
        f"SELECT o_region, o_priority FROM {ORDERS} WHERE o_id <= 2000 "
        f"EXCEPT SELECT o_region, o_priority FROM {ORDERS} WHERE o_id > 2000 AND o_status = 'OPEN'",
    ),
    Q("intersect_all", f"SELECT o_region FROM {ORDERS} INTERSECT ALL SELECT c_region FROM {CUSTOMERS}"),
    Q(
        "except_all",
        f"SELECT c_region FROM {CUSTOMERS} EXCEPT ALL SELECT o_region FROM {ORDERS} WHERE o_id < 200",
    ),
    Q(
        "union_of_aggregates_ordered_limit",
        f"SELECT 'o' AS src, o_region AS r, COUNT(*) AS n FROM {ORDERS} GROUP BY o_region "
        f"UNION ALL SELECT 'c', c_region, COUNT(*) FROM {CUSTOMERS} GROUP BY c_region "
        f"ORDER BY src, r NULLS FIRST LIMIT 9",
        ordered=True,
    ),
    Q(
        "union_all_of_global_aggregates",
        f"SELECT SUM(n) AS n FROM (SELECT COUNT(*) AS n FROM {ORDERS} UNION ALL "
        f"SELECT COUNT(*) FROM {CUSTOMERS}) t",
    ),
    # Both inputs hash-partitioned on the same key: DataFusion interleaves them.
    Q(
        "union_all_co_partitioned_aggregates_regrouped",
        f"SELECT k, SUM(n) AS n FROM (SELECT o_cust AS k, COUNT(*) AS n FROM {ORDERS} GROUP BY o_cust "
        f"UNION ALL SELECT c_id, COUNT(*) FROM {CUSTOMERS} GROUP BY c_id) t GROUP BY k",
    ),
    # ---- DISTINCT and COUNT(DISTINCT)
    Q("distinct_two_columns", f"SELECT DISTINCT o_status, o_region FROM {ORDERS}"),
    Q("distinct_expression", f"SELECT DISTINCT date_trunc('month', o_date) AS m FROM {ORDERS}"),
    Q(
        "count_distinct_many_global",
        f"SELECT COUNT(DISTINCT o_cust) AS custs, COUNT(DISTINCT o_status) AS statuses, "
        f"COUNT(DISTINCT o_date) AS dates, COUNT(DISTINCT o_amount) AS amounts, COUNT(*) AS n, "
        f"COUNT(o_note) AS notes FROM {ORDERS}",
    ),
    Q(
        "count_distinct_many_group_by",
        f"SELECT o_region, COUNT(DISTINCT o_cust) AS custs, COUNT(DISTINCT o_status) AS statuses, "
        f"SUM(DISTINCT o_priority) AS prio_sum, COUNT(*) AS n FROM {ORDERS} GROUP BY o_region",
    ),
    Q(
        "count_distinct_single_group_by",
        f"SELECT o_status, COUNT(DISTINCT o_cust) AS custs FROM {ORDERS} GROUP BY o_status",
    ),
    # ---- joins
    Q(
        "join_inner",
        f"SELECT o_id, c_id, c_name FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id",
    ),
    Q(
        "join_left",
        f"SELECT c_id, c_name, o_id FROM {CUSTOMERS} LEFT JOIN {ORDERS} ON c_id = o_cust",
    ),
    Q(
        "join_right",
        f"SELECT o_id, c_id, c_segment FROM {ORDERS} RIGHT JOIN {CUSTOMERS} ON o_cust = c_id",
    ),
    Q(
        "join_full_outer",
        f"SELECT o_id, o_cust, c_id, c_name FROM {ORDERS} FULL OUTER JOIN {CUSTOMERS} ON o_cust = c_id",
    ),
    Q(
        "join_full_outer_aggregate",
        f"SELECT COUNT(*) AS n, COUNT(o_id) AS orders, COUNT(c_name) AS custs, "
        f"SUM(CASE WHEN o_id IS NULL THEN 1 ELSE 0 END) AS only_c, "
        f"SUM(CASE WHEN c_name IS NULL THEN 1 ELSE 0 END) AS only_o "
        f"FROM {ORDERS} FULL JOIN {CUSTOMERS} ON o_cust = c_id",
    ),
    Q(
        "join_two_keys_inner",
        f"SELECT o_id, c_name FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id AND o_region = c_region",
    ),
    Q(
        "join_two_keys_full",
        f"SELECT o_id, c_name, c_region FROM {ORDERS} FULL JOIN {CUSTOMERS} "
        f"ON o_cust = c_id AND o_region = c_region",
    ),
    Q(
        "join_self",
        f"SELECT a.o_cust, COUNT(*) AS pairs, SUM(b.o_amount - a.o_amount) AS diff FROM {ORDERS} a "
        f"JOIN {ORDERS} b ON a.o_cust = b.o_cust AND a.o_id < b.o_id GROUP BY a.o_cust",
    ),
    Q(
        "join_co_partitioned_aggregates",
        f"SELECT a.o_cust, a.n, b.m FROM (SELECT o_cust, COUNT(*) AS n FROM {ORDERS} GROUP BY o_cust) a "
        f"JOIN (SELECT o_cust, MAX(o_amount) AS m FROM {ORDERS} GROUP BY o_cust) b ON a.o_cust = b.o_cust",
    ),
    # The join's output has two columns of each name; a later exchange must carry them.
    Q(
        "join_self_select_star_ordered",
        f"SELECT * FROM {ORDERS} a JOIN {ORDERS} b ON a.o_cust = b.o_id ORDER BY a.o_id",
        ordered=True,
    ),
    Q(
        "join_self_same_names_order_limit",
        f"SELECT a.o_id, b.o_id FROM {ORDERS} a JOIN {ORDERS} b ON a.o_cust = b.o_id ORDER BY a.o_id LIMIT 10",
        ordered=True,
    ),
    Q(
        "join_with_limited_subquery",
        f"SELECT o_id, c_name FROM (SELECT * FROM {ORDERS} ORDER BY o_id LIMIT 100) o "
        f"JOIN {CUSTOMERS} ON o_cust = c_id",
    ),
    Q(
        "join_non_equi_filter",
        f"SELECT o_id, c_id FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id AND o_amount > c_credit",
    ),
    Q(
        "join_left_with_right_filter_in_on",
        f"SELECT o_id, c_name FROM {ORDERS} LEFT JOIN {CUSTOMERS} "
        f"ON o_cust = c_id AND c_segment = 'BUILDING'",
    ),
    Q(
        "join_three_way_group_by",
        f"SELECT c_segment, COUNT(*) AS n, SUM(i_qty * i_price) AS revenue, AVG(o_discount) AS disc "
        f"FROM {CUSTOMERS} JOIN {ORDERS} ON c_id = o_cust JOIN {ITEMS} ON i_order = o_id GROUP BY c_segment",
    ),
    Q(
        "join_string_key",
        f"SELECT i_sku, o_status, COUNT(*) AS n FROM {ITEMS} a JOIN {ORDERS} ON i_order = o_id "
        f"JOIN (SELECT DISTINCT i_sku AS sku FROM {ITEMS} WHERE i_qty > 45) s ON a.i_sku = s.sku "
        f"GROUP BY i_sku, o_status",
    ),
    Q(
        "join_cross_small",
        f"SELECT r_name, o_status, COUNT(*) AS n FROM {REGIONS} CROSS JOIN {ORDERS} "
        f"WHERE o_id < 100 GROUP BY r_name, o_status",
    ),
    Q(
        "semi_exists",
        f"SELECT c_id, c_name FROM {CUSTOMERS} c WHERE EXISTS "
        f"(SELECT 1 FROM {ORDERS} o WHERE o.o_cust = c.c_id AND o.o_amount > 500)",
    ),
    Q(
        "anti_not_exists",
        f"SELECT c_id, c_name FROM {CUSTOMERS} c WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ORDERS} o WHERE o.o_cust = c.c_id)",
    ),
    Q(
        "semi_in",
        f"SELECT o_id FROM {ORDERS} WHERE o_cust IN (SELECT c_id FROM {CUSTOMERS} WHERE c_segment = 'MACHINERY')",
    ),
    Q(
        "anti_not_in_subquery_has_nulls",
        f"SELECT o_id FROM {ORDERS} WHERE o_cust NOT IN (SELECT c_id FROM {CUSTOMERS})",
    ),
    Q(
        "anti_not_in_no_nulls_inside",
        f"SELECT o_id, o_cust FROM {ORDERS} WHERE o_cust NOT IN "
        f"(SELECT c_id FROM {CUSTOMERS} WHERE c_id IS NOT NULL)",
    ),
    Q(
        "anti_not_in_outer_nulls",
        f"SELECT c_id, c_name FROM {CUSTOMERS} WHERE c_id NOT IN "
        f"(SELECT o_cust FROM {ORDERS} WHERE o_cust IS NOT NULL AND o_region = 1)",
    ),
    Q(
        "semi_exists_two_keys_with_filter",
        f"SELECT c_id FROM {CUSTOMERS} c WHERE EXISTS (SELECT 1 FROM {ORDERS} o "
        f"WHERE o.o_cust = c.c_id AND o.o_region = c.c_region AND o.o_amount > c.c_credit)",
    ),
    Q(
        "anti_not_exists_two_keys",
        f"SELECT c_id, c_region FROM {CUSTOMERS} c WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ORDERS} o WHERE o.o_cust = c.c_id AND o.o_region = c.c_region)",
    ),
    Q(
        "semi_in_correlated",
        f"SELECT c_id FROM {CUSTOMERS} WHERE c_id IN (SELECT o_cust FROM {ORDERS} o WHERE o.o_region = c_region)",
    ),
    Q("not_in_list_with_null", f"SELECT o_id FROM {ORDERS} WHERE o_region NOT IN (1, NULL)"),
    Q(
        "in_list_strings",
        f"SELECT o_id FROM {ORDERS} WHERE o_region NOT IN (1, 2) AND o_status IN ('OPEN', 'SHIPPED')",
    ),
    Q("exists_uncorrelated_empty", f"SELECT o_id FROM {ORDERS} WHERE EXISTS (SELECT 1 FROM {EMPTY})"),
    Q(
        "not_exists_uncorrelated_empty",
        f"SELECT o_id FROM {ORDERS} WHERE NOT EXISTS (SELECT 1 FROM {EMPTY}) AND o_id < 20",
    ),
    # Joins without an equality key run as nested-loop joins.
    Q(
        "nested_loop_inner_non_equi",
        f"SELECT r_id, o_id FROM {REGIONS} JOIN {ORDERS} ON o_region > r_id + 2 AND o_id < 300",
    ),
    Q(
        "nested_loop_left_non_equi",
        f"SELECT r_id, o_id FROM {REGIONS} LEFT JOIN (SELECT * FROM {ORDERS} WHERE o_id < 50) o "
        f"ON o_region > r_id + 2",
    ),
    Q(
        "nested_loop_left_non_equi_big_left",
        f"SELECT o_id, r_name FROM (SELECT * FROM {ORDERS} WHERE o_id < 50) o LEFT JOIN {REGIONS} "
        f"ON o_region > r_id + 2",
    ),
    Q(
        "nested_loop_right_non_equi",
        f"SELECT r_id, o_id FROM (SELECT * FROM {ORDERS} WHERE o_id < 50) o RIGHT JOIN {REGIONS} "
        f"ON o_region > r_id + 2",
    ),
    Q(
        "nested_loop_full_non_equi",
        f"SELECT r_id, o_id FROM {REGIONS} FULL JOIN (SELECT * FROM {ORDERS} WHERE o_id < 50) o "
        f"ON o_region > r_id + 2",
    ),
    Q(
        "nested_loop_left_aggregate",
        f"SELECT r_id, COUNT(o_id) AS n FROM {REGIONS} LEFT JOIN {ORDERS} ON o_region > r_id + 2 GROUP BY r_id",
    ),
    Q(
        "semi_exists_non_equi_correlated",
        f"SELECT r_id FROM {REGIONS} r WHERE EXISTS (SELECT 1 FROM {ORDERS} o WHERE o.o_region > r.r_id + 2)",
    ),
    Q(
        "anti_not_exists_non_equi_correlated",
        f"SELECT r_id FROM {REGIONS} r WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ORDERS} o WHERE o.o_region > r.r_id + 2)",
    ),
    Q(
        "any_subquery",
        f"SELECT o_id FROM {ORDERS} WHERE o_amount > ANY (SELECT c_credit FROM {CUSTOMERS} WHERE c_region = 3)",
    ),
    Q(
        "all_subquery",
        f"SELECT o_id, o_amount FROM {ORDERS} WHERE o_amount > ALL "
        f"(SELECT c_credit FROM {CUSTOMERS} WHERE c_region = 3 AND c_credit IS NOT NULL)",
    ),
    Q(
        "join_empty_side_inner",
        f"SELECT o_id, c_name FROM {ORDERS} JOIN (SELECT * FROM {CUSTOMERS} WHERE c_id < 0) c ON o_cust = c_id",
    ),
    Q(
        "join_empty_side_left",
        f"SELECT o_id, c_name FROM {ORDERS} LEFT JOIN (SELECT * FROM {CUSTOMERS} WHERE c_id < 0) c "
        f"ON o_cust = c_id",
    ),
    Q(
        "join_empty_side_full",
        f"SELECT e.o_id AS e_id, c_id FROM {EMPTY} e FULL JOIN {CUSTOMERS} ON e.o_cust = c_id",
    ),
    Q(
        "join_empty_table_right",
        f"SELECT c_id, e.o_id AS e_id FROM {EMPTY} e RIGHT JOIN {CUSTOMERS} ON e.o_cust = c_id "
        f"WHERE c_region = 2",
    ),
    # ---- ORDER BY / LIMIT / OFFSET
    Q(
        "order_limit",
        f"SELECT o_id, o_amount FROM {ORDERS} ORDER BY o_amount DESC NULLS LAST, o_id LIMIT 25",
        ordered=True,
    ),
    Q(
        "order_limit_offset",
        f"SELECT o_id, o_date, o_status FROM {ORDERS} ORDER BY o_date, o_id LIMIT 20 OFFSET 30",
        ordered=True,
    ),
    Q("order_offset_only", f"SELECT o_id FROM {ORDERS} ORDER BY o_id OFFSET 2985", ordered=True),
    Q(
        "order_desc_nulls_first_full",
        f"SELECT o_id, o_date FROM {ORDERS} ORDER BY o_date DESC NULLS FIRST, o_id",
        ordered=True,
    ),
    Q(
        "order_desc_nulls_last_multi",
        f"SELECT o_id, o_status, o_discount FROM {ORDERS} "
        f"ORDER BY o_status DESC NULLS LAST, o_discount ASC NULLS FIRST, o_id DESC LIMIT 200",
        ordered=True,
    ),
    Q(
        "order_by_aggregate_limit",
        f"SELECT o_cust, SUM(o_amount) AS s FROM {ORDERS} GROUP BY o_cust "
        f"ORDER BY s DESC NULLS LAST, o_cust NULLS FIRST LIMIT 10",
        ordered=True,
    ),
    Q("limit_count", f"SELECT COUNT(*) AS n FROM (SELECT o_id FROM {ORDERS} LIMIT 123) t"),
    Q(
        "limit_offset_over_join",
        f"SELECT o_id, c_name FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id "
        f"ORDER BY o_id, c_name LIMIT 15 OFFSET 100",
        ordered=True,
    ),
    # ---- GROUPING SETS / ROLLUP / CUBE
    Q(
        "grouping_sets",
        f"SELECT o_region, o_status, COUNT(*) AS n, SUM(o_amount) AS s FROM {ORDERS} "
        f"GROUP BY GROUPING SETS ((o_region), (o_status), (o_region, o_status), ())",
    ),
    Q(
        "rollup",
        f"SELECT o_region, o_status, GROUPING(o_region) AS g_r, GROUPING(o_status) AS g_s, "
        f"COUNT(*) AS n, AVG(o_discount) AS d FROM {ORDERS} GROUP BY ROLLUP (o_region, o_status)",
    ),
    Q(
        "cube",
        f"SELECT o_region, o_priority, COUNT(DISTINCT o_cust) AS custs, MAX(o_date) AS last "
        f"FROM {ORDERS} GROUP BY CUBE (o_region, o_priority)",
    ),
    Q(
        "rollup_over_join",
        f"SELECT c_segment, o_status, SUM(o_amount) AS s FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id "
        f"GROUP BY ROLLUP (c_segment, o_status)",
    ),
    # ---- CTE used twice
    Q(
        "cte_twice_scalar",
        f"WITH cust_tot AS (SELECT o_cust, SUM(o_amount) AS tot FROM {ORDERS} GROUP BY o_cust) "
        f"SELECT o_cust, tot FROM cust_tot WHERE tot > (SELECT AVG(tot) FROM cust_tot)",
    ),
    Q(
        "cte_twice_self_join",
        f"WITH m AS (SELECT o_region, date_trunc('month', o_date) AS month, COUNT(*) AS n "
        f"FROM {ORDERS} GROUP BY o_region, date_trunc('month', o_date)) "
        f"SELECT a.o_region, a.month, a.n, b.n AS prev_n FROM m a LEFT JOIN m b "
        f"ON a.o_region = b.o_region AND b.month = a.month - INTERVAL '1 month'",
    ),
    # ---- scalar and correlated subqueries
    Q(
        "scalar_subquery_in_select",
        f"SELECT o_region, COUNT(*) AS n, (SELECT COUNT(*) FROM {CUSTOMERS}) AS custs, "
        f"(SELECT MAX(o_amount) FROM {ORDERS}) AS top FROM {ORDERS} GROUP BY o_region",
    ),
    Q(
        "scalar_subquery_in_where",
        f"SELECT o_id, o_amount FROM {ORDERS} WHERE o_amount > (SELECT AVG(o_amount) * 1.5 FROM {ORDERS})",
    ),
    Q(
        "scalar_subquery_empty_is_null",
        f"SELECT o_id FROM {ORDERS} WHERE o_amount > (SELECT MAX(o_amount) FROM {ORDERS} WHERE o_id < 0)",
    ),
    Q(
        "correlated_scalar_in_where",
        f"SELECT o_id, o_cust, o_amount FROM {ORDERS} o WHERE o_amount > "
        f"(SELECT AVG(o2.o_amount) FROM {ORDERS} o2 WHERE o2.o_cust = o.o_cust)",
    ),
    Q(
        "correlated_scalar_count_in_select",
        f"SELECT c_id, c_name, (SELECT COUNT(*) FROM {ORDERS} o WHERE o.o_cust = c.c_id) AS n "
        f"FROM {CUSTOMERS} c",
    ),
    Q(
        "correlated_exists_and_not_exists",
        f"SELECT o_id FROM {ORDERS} o WHERE EXISTS (SELECT 1 FROM {ITEMS} i WHERE i.i_order = o.o_id "
        f"AND i.i_qty > 40) AND NOT EXISTS (SELECT 1 FROM {CUSTOMERS} c WHERE c.c_id = o.o_cust "
        f"AND c.c_segment = 'AUTOMOBILE')",
    ),
    # ---- VALUES lists
    Q(
        "values_left_join_string_key",
        f"SELECT t.code, t.label, COUNT(o_id) AS n FROM (VALUES ('OPEN', 'o'), ('SHIPPED', 's'), "
        f"(NULL, 'n'), ('MISSING', 'm')) AS t(code, label) LEFT JOIN {ORDERS} ON o_status = t.code "
        f"GROUP BY t.code, t.label",
    ),
    Q(
        "values_inner_join_int_key",
        f"SELECT v.region, v.weight, SUM(o_amount) AS s FROM {ORDERS} JOIN "
        f"(VALUES (1, 1.5), (2, 2.5), (3, 0.5), (9, 9.0)) AS v(region, weight) ON o_region = v.region "
        f"GROUP BY v.region, v.weight",
    ),
    Q(
        "values_select_star",
        "SELECT * FROM (VALUES (1, 'a', DATE '2021-01-01'), (2, NULL, NULL), (3, 'c', DATE '2021-03-01')) "
        "AS t(a, b, c)",
    ),
    # ---- CSV x Parquet
    Q(
        "csv_parquet_join_group_by",
        f"SELECT c_segment, r_name, COUNT(*) AS n, SUM(o_amount) AS s, MIN(c_since) AS first_since "
        f"FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id LEFT JOIN {REGIONS} ON c_region = r_id "
        f"GROUP BY c_segment, r_name",
    ),
    Q(
        "csv_glob_vs_dir",
        f"SELECT COUNT(*) AS n FROM {CUSTOMERS_GLOB} g JOIN {CUSTOMERS} c ON g.c_name = c.c_name",
    ),
    # ---- aggregates over an empty input
    Q(
        "empty_global_aggregate",
        f"SELECT COUNT(*) AS n, COUNT(o_cust) AS nc, SUM(o_amount) AS s, AVG(o_discount) AS d, "
        f"MIN(o_date) AS first, MAX(o_status) AS st, COUNT(DISTINCT o_cust) AS dc FROM {ORDERS} WHERE o_id < 0",
    ),
    Q(
        "empty_group_by_aggregate",
        f"SELECT o_region, COUNT(*) AS n, SUM(o_amount) AS s FROM {ORDERS} WHERE o_id < 0 GROUP BY o_region",
    ),
    Q(
        "empty_table_global_aggregate",
        f"SELECT COUNT(*) AS n, SUM(o_amount) AS s, MAX(o_date) AS d FROM {EMPTY}",
    ),
    Q(
        "empty_window_and_union",
        f"SELECT o_id, ROW_NUMBER() OVER (PARTITION BY o_cust ORDER BY o_id) AS rn FROM {EMPTY} "
        f"UNION ALL SELECT o_id, 0 FROM {ORDERS} WHERE o_id < 0",
    ),
    # ---- strings, dates, decimals, floats, NULL-heavy columns
    Q(
        "strings",
        f"SELECT o_id, UPPER(o_status) AS u, LOWER(o_status) AS l, LENGTH(o_status) AS len, "
        f"SUBSTR(o_status, 2, 3) AS sub, CONCAT(o_status, '-', o_note) AS cat, o_status || '/' AS pipe, "
        f"o_status LIKE '%P%' AS has_p, REPLACE(o_note, ' ', '_') AS rep FROM {ORDERS}",
    ),
    Q(
        "strings_group_by_ordered_agg",
        f"SELECT o_status, STRING_AGG(o_note, ';' ORDER BY o_id) AS notes, "
        f"ARRAY_AGG(o_id ORDER BY o_id) AS ids FROM {ORDERS} WHERE o_id < 300 GROUP BY o_status",
    ),
    Q(
        "dates",
        f"SELECT date_trunc('month', o_date) AS m, EXTRACT(YEAR FROM o_date) AS y, COUNT(*) AS n, "
        f"MIN(o_date) AS lo, MAX(o_date + INTERVAL '10 days') AS hi FROM {ORDERS} "
        f"WHERE o_date BETWEEN DATE '2020-03-01' AND DATE '2021-06-30' OR o_date IS NULL "
        f"GROUP BY date_trunc('month', o_date), EXTRACT(YEAR FROM o_date)",
    ),
    Q(
        "decimals",
        f"SELECT o_region, SUM(o_amount) AS s, AVG(o_amount) AS a, MIN(o_amount) AS lo, "
        f"MAX(o_amount * 2) AS hi2, SUM(CAST(o_amount AS DECIMAL(20, 4)) * 3) AS s3, "
        f"ROUND(AVG(o_amount), 1) AS ar FROM {ORDERS} GROUP BY o_region",
    ),
    Q(
        "floats",
        f"SELECT i_line, SUM(i_price) AS s, AVG(i_price) AS a, STDDEV(i_price) AS sd, "
        f"VAR_POP(i_price) AS vp, MEDIAN(i_price) AS med, MIN(i_price) AS lo, MAX(i_price) AS hi, "
        f"CORR(i_price, CAST(i_qty AS DOUBLE)) AS c FROM {ITEMS} GROUP BY i_line",
    ),
    Q(
        "null_heavy",
        f"SELECT o_note, COUNT(*) AS n, COUNT(o_note) AS nn, COUNT(o_priority) AS np, "
        f"SUM(COALESCE(o_priority, 0)) AS p, MAX(NULLIF(o_status, 'OPEN')) AS st, "
        f"SUM(CASE WHEN o_discount IS NULL THEN 1 ELSE 0 END) AS no_disc FROM {ORDERS} GROUP BY o_note",
    ),
    Q(
        "null_group_keys_and_filters",
        f"SELECT o_priority, o_status, COUNT(*) AS n FROM {ORDERS} "
        f"WHERE o_note IS NULL AND (o_priority IS NULL OR o_status IS NULL) GROUP BY o_priority, o_status",
    ),
    Q(
        "aggregate_filter_clause",
        f"SELECT o_status, SUM(o_amount) FILTER (WHERE o_region = 1) AS s1, "
        f"COUNT(*) FILTER (WHERE o_note IS NULL) AS nn FROM {ORDERS} GROUP BY o_status",
    ),
    Q(
        # The CSV scan under the limit reads no columns (no statistics answer the count): the
        # exchange carries row counts only.
        "zero_column_exchange",
        f"SELECT COUNT(*) AS n FROM (SELECT * FROM {CUSTOMERS} LIMIT 10)",
    ),
    Q(
        # Dictionary columns cross exchanges with a dictionary per batch (Flight sends each
        # before its batches), as sort keys, payload and a join's build side.
        "dictionary_columns",
        f"SELECT o.k, o.o_id, c.seg FROM (SELECT arrow_cast(o_status, 'Dictionary(Int32, Utf8)') AS k, "
        f"o_id, o_cust FROM {ORDERS}) o JOIN (SELECT c_id, arrow_cast(c_segment, 'Dictionary(Int8, Utf8)') "
        f"AS seg FROM {CUSTOMERS}) c ON o.o_cust = c.c_id ORDER BY o.k, o.o_id",
    ),
    Q(
        # Types whose buffers the executors' stream padding and the consumer's alignment must get
        # right: 16- and 32-byte decimals, maps, lists of structs, nested dictionaries, views.
        "many_types_through_an_exchange",
        f"SELECT o_id, arrow_cast(o_amount, 'Decimal256(40, 2)') AS d256, map(['a', 'b'], [o_id, o_cust]) AS m, "
        f"make_array(named_struct('k', o_id, 'v', o_status)) AS ls, "
        f"named_struct('s', arrow_cast(o_status, 'Dictionary(Int32, Utf8)'), 'n', o_id) AS sd, "
        f"arrow_cast(o_id, 'Duration(Millisecond)') AS du, arrow_cast(o_note, 'LargeUtf8') AS lu, "
        f"arrow_cast(o_note, 'BinaryView') AS bv FROM {ORDERS} ORDER BY o_id",
    ),
    Q(
        "having",
        f"SELECT o_cust, COUNT(*) AS n, SUM(o_amount) AS s FROM {ORDERS} GROUP BY o_cust "
        f"HAVING COUNT(*) >= 10 OR SUM(o_amount) IS NULL",
    ),
]

assert len({q.id for q in QUERIES}) == len(QUERIES)


_expected: dict[str, pa.Table] = {}


def expected_result(ctx: SessionContext, query: Q) -> pa.Table:
    if query.id not in _expected:
        _expected[query.id] = ctx.sql(query.sql).to_arrow_table()
    return _expected[query.id]


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_sql_matches_datafusion(
    cov_client: ballista_flight.Context, reference_ctx: SessionContext, cluster: StandaloneCluster, query: Q
) -> None:
    expected = expected_result(reference_ctx, query)
    got = cov_client.sql(query.sql).to_arrow()
    assert_same_result(got, expected, ordered=query.ordered, context=f"{query.id}, {cluster.shuffle} shuffle")


# --------------------------------------------------------------------------- DuckDB

# Queries whose semantics (and column names, types up to normalization) agree in DuckDB.
DUCKDB_QUERIES = [
    Q(
        "join_group_by",
        f"SELECT c_segment, COUNT(*) AS n, SUM(o_amount) AS s, COUNT(DISTINCT o_cust) AS custs "
        f"FROM {ORDERS} JOIN {CUSTOMERS} ON o_cust = c_id GROUP BY c_segment",
    ),
    Q(
        "window_ranking",
        f"SELECT o_id, RANK() OVER (PARTITION BY o_status ORDER BY o_region DESC NULLS LAST) AS r, "
        f"DENSE_RANK() OVER (PARTITION BY o_status ORDER BY o_region NULLS LAST) AS dr, "
        f"ROW_NUMBER() OVER (PARTITION BY o_cust ORDER BY o_date NULLS LAST, o_id) AS rn FROM {ORDERS}",
    ),
    Q(
        "full_join_two_keys",
        f"SELECT o_id, c_name FROM {ORDERS} FULL JOIN {CUSTOMERS} ON o_cust = c_id AND o_region = c_region",
    ),
    Q(
        "anti_not_in_and_exists",
        f"SELECT c_id, c_name FROM {CUSTOMERS} c WHERE c_id NOT IN "
        f"(SELECT o_cust FROM {ORDERS} WHERE o_cust IS NOT NULL AND o_region = 1) "
        f"AND EXISTS (SELECT 1 FROM {ORDERS} o WHERE o.o_cust = c.c_id)",
    ),
    Q(
        "set_operations",
        f"(SELECT o_cust AS k FROM {ORDERS} INTERSECT SELECT c_id FROM {CUSTOMERS}) "
        f"UNION (SELECT c_id FROM {CUSTOMERS} EXCEPT SELECT o_cust FROM {ORDERS})",
    ),
    Q(
        "rollup_empty_and_order_limit",
        f"SELECT o_region, COUNT(*) AS n, SUM(o_amount) AS s FROM {ORDERS} GROUP BY ROLLUP (o_region) "
        f"ORDER BY o_region NULLS FIRST, n LIMIT 4",
        ordered=True,
    ),
    Q(
        "empty_global_aggregate",
        f"SELECT COUNT(*) AS n, SUM(o_amount) AS s, MAX(o_date) AS d FROM {ORDERS} WHERE o_id < 0",
    ),
]


@pytest.fixture(scope="module")
def duckdb_conn(reference_ctx: SessionContext) -> Iterator[object]:
    import duckdb

    conn = duckdb.connect()
    # The tables as DataFusion read them, so CSV parsing is not part of the comparison.
    for name in (ORDERS, CUSTOMERS, ITEMS, REGIONS):
        conn.register(name, reference_ctx.table(name).to_arrow_table())
    yield conn
    conn.close()


@pytest.mark.parametrize("query", DUCKDB_QUERIES, ids=[q.id for q in DUCKDB_QUERIES])
def test_sql_matches_duckdb(
    cov_client: ballista_flight.Context, duckdb_conn: object, cluster: StandaloneCluster, query: Q
) -> None:
    expected = duckdb_conn.sql(query.sql).arrow()  # type: ignore[attr-defined]
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    got = cov_client.sql(query.sql).to_arrow()
    assert_same_result(got, expected, ordered=query.ordered, context=f"duckdb {query.id}, {cluster.shuffle}")
