"""Flight SQL decoding and catalog answers, without servers."""

from __future__ import annotations

import contextlib

import pyarrow as pa
import pytest
from google.protobuf import any_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from ballista_flight.errors import PlanningError, Unsupported
from ballista_flight.proto import flight_sql_pb2 as sql_pb
from ballista_flight.scheduler import flightsql as fsql


def test_plain_sql_is_not_flight_sql() -> None:
    for text in (b"SELECT 1", b"\nSELECT 1", "SELECT 'é'".encode(), b""):
        assert fsql.unpack(text) is None


def test_packed_commands_round_trip() -> None:
    command = sql_pb.CommandGetTables(table_name_filter_pattern="line%", include_schema=True)
    decoded = fsql.unpack(fsql.pack(command))
    assert decoded == command


def test_unknown_flight_sql_message_is_unsupported() -> None:
    wrapper = any_pb2.Any(type_url=fsql.TYPE_PREFIX + "CommandGetCrossReference", value=b"")
    with pytest.raises(Unsupported, match="CommandGetCrossReference"):
        fsql.unpack(wrapper.SerializeToString())


def test_malformed_flight_sql_message_is_a_planning_error() -> None:
    wrapper = any_pb2.Any(type_url=fsql.TYPE_PREFIX + "CommandStatementQuery", value=b"\x0a\xff")
    with pytest.raises(PlanningError, match="malformed"):
        fsql.unpack(wrapper.SerializeToString())


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_fail_cleanly(raw: bytes) -> None:
    with contextlib.suppress(PlanningError, Unsupported):
        fsql.unpack(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(fsql._MESSAGES)), st.binary(max_size=100))
def test_any_payload_of_known_messages_decodes_or_fails_cleanly(name: str, payload: bytes) -> None:
    wrapper = any_pb2.Any(type_url=fsql.TYPE_PREFIX + name, value=payload)
    with contextlib.suppress(PlanningError):
        fsql.unpack(wrapper.SerializeToString())


@pytest.mark.parametrize(
    ("sql", "expected", "count"),
    [
        ("SELECT ? + ?", "SELECT $1 + $2", 2),
        ("SELECT '?' , ?", "SELECT '?' , $1", 1),
        ('SELECT "a?" FROM t WHERE x = ? -- why?\n', 'SELECT "a?" FROM t WHERE x = $1 -- why?\n', 1),
        ("SELECT $1, $2", "SELECT $1, $2", 2),
        ("SELECT 1 /* ? */", "SELECT 1 /* ? */", 0),
    ],
)
def test_number_placeholders(sql: str, expected: str, count: int) -> None:
    assert fsql.number_placeholders(sql) == (expected, count)


def test_bind_values_needs_one_row_of_the_right_width() -> None:
    assert fsql.bind_values(pa.table({"a": [5], "b": ["x"]}), 2) == {"1": pa.scalar(5), "2": pa.scalar("x")}
    with pytest.raises(PlanningError, match="one row"):
        fsql.bind_values(pa.table({"a": [1, 2]}), 1)
    with pytest.raises(PlanningError, match="2 parameter"):
        fsql.bind_values(pa.table({"a": [1]}), 2)


def test_like_patterns() -> None:
    pattern = fsql.like_pattern("line_te%")
    assert pattern is not None
    assert pattern.fullmatch("lineitem")
    assert not pattern.fullmatch("linxitem")
    escaped = fsql.like_pattern(r"a\_b")
    assert escaped is not None
    assert escaped.fullmatch("a_b")
    assert not escaped.fullmatch("axb")
    assert fsql.like_pattern(None) is None


def test_sql_info_is_a_dense_union_by_id() -> None:
    values = fsql.sql_info_values()
    table = fsql.sql_info_table([], values)
    assert table.schema == fsql.SQL_INFO_SCHEMA
    decoded = dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    assert decoded == values
    some = fsql.sql_info_table([fsql.SERVER_NAME, 99999, fsql.SERVER_READ_ONLY], values)
    assert some.column(0).to_pylist() == [fsql.SERVER_NAME, fsql.SERVER_READ_ONLY]


def test_get_tables_filters_and_orders() -> None:
    entries = [
        fsql.TableEntry("datafusion", "public", "orders", "TABLE"),
        fsql.TableEntry("datafusion", "public", "lineitem", "TABLE"),
        fsql.TableEntry("datafusion", "information_schema", "tables", "SYSTEM TABLE"),
    ]
    command = sql_pb.CommandGetTables(table_types=["TABLE"])
    assert [e.name for e in fsql.filter_tables(entries, command)] == ["lineitem", "orders"]
    command = sql_pb.CommandGetTables(db_schema_filter_pattern="info%")
    assert [e.name for e in fsql.filter_tables(entries, command)] == ["tables"]
    schema = pa.schema([("a", pa.int64())])
    table = fsql.tables_table(entries[:1], [schema])
    assert pa.ipc.read_schema(pa.py_buffer(table.column("table_schema")[0].as_py())) == schema


def test_prepared_statements_close_and_refuse_unknown_handles() -> None:
    statements = fsql.PreparedStatements(ttl_s=60)
    handle = statements.add(fsql.Prepared("SELECT 1", 0, None))
    assert statements.get(handle).sql == "SELECT 1"
    statements.close(handle)
    statements.close(handle)
    with pytest.raises(PlanningError, match="unknown prepared statement"):
        statements.get(handle)
