"""Flight SQL on the scheduler: decoding commands, catalog answers, prepared statements.

A descriptor whose command is a ``google.protobuf.Any`` with a Flight SQL type URL
is Flight SQL; anything else stays the plain UTF-8 SQL of the engine. Every
function here is pure or owns only in-memory state, so the server stays a thin
dispatcher over them.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from ballista_flight._version import DATAFUSION_VERSION, __version__
from ballista_flight.errors import PlanningError, Unsupported
from ballista_flight.proto import flight_sql_pb2 as sql_pb
from ballista_flight.scheduler.statements import NOT_CODE

if TYPE_CHECKING:
    from collections.abc import Iterable

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."

# Commands (GetFlightInfo / GetSchema / DoPut) and action bodies we decode.
_MESSAGES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.name: cls
    for cls in (
        sql_pb.CommandGetSqlInfo,
        sql_pb.CommandGetCatalogs,
        sql_pb.CommandGetDbSchemas,
        sql_pb.CommandGetTables,
        sql_pb.CommandGetTableTypes,
        sql_pb.CommandGetPrimaryKeys,
        sql_pb.CommandStatementQuery,
        sql_pb.CommandStatementSubstraitPlan,
        sql_pb.CommandPreparedStatementQuery,
        sql_pb.CommandStatementUpdate,
        sql_pb.CommandPreparedStatementUpdate,
        sql_pb.TicketStatementQuery,
        sql_pb.ActionCreatePreparedStatementRequest,
        sql_pb.ActionCreatePreparedSubstraitPlanRequest,
        sql_pb.ActionClosePreparedStatementRequest,
        sql_pb.ActionCancelQueryRequest,
    )
}

MAX_PREPARED = 10_000


def pack(message: Message) -> bytes:
    """``message`` packed in a ``google.protobuf.Any``, as Flight SQL sends everything."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return bytes(wrapper.SerializeToString())


def unpack(raw: bytes) -> Message | None:
    """The Flight SQL message in ``raw``; None when ``raw`` is not Flight SQL at all.

    Raises ``Unsupported`` for a Flight SQL message we do not handle and
    ``PlanningError`` for one that does not parse.
    """
    if not raw.startswith(b"\n"):  # field 1 (type_url), length-delimited: every packed Any
        return None
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(raw)
    except DecodeError:
        return None
    if not wrapper.type_url.startswith(TYPE_PREFIX):
        return None
    name = wrapper.type_url[len(TYPE_PREFIX) :]
    cls = _MESSAGES.get(name)
    if cls is None:
        msg = f"Flight SQL {name} is not supported by ballista-flight"
        raise Unsupported(msg)
    message = cls()
    try:
        message.ParseFromString(wrapper.value)
    except DecodeError as exc:
        msg = f"malformed Flight SQL {name}"
        raise PlanningError(msg) from exc
    return message


# -- SqlInfo ---------------------------------------------------------------------
# Ids from the Flight SQL specification's SqlInfo enum.
SERVER_NAME, SERVER_VERSION, SERVER_ARROW_VERSION, SERVER_READ_ONLY = 0, 1, 2, 3
SERVER_SQL, SERVER_SUBSTRAIT, SERVER_TRANSACTION, SERVER_CANCEL = 4, 5, 8, 9
STATEMENT_TIMEOUT, TRANSACTION_TIMEOUT = 100, 101
DDL_CATALOG, DDL_SCHEMA, DDL_TABLE, IDENTIFIER_CASE, IDENTIFIER_QUOTE_CHAR = 500, 501, 502, 503, 504
QUOTED_IDENTIFIER_CASE, ALL_TABLES_ARE_SELECTABLE, NULL_ORDERING = 505, 506, 507
SUPPORTS_COLUMN_ALIASING, NULL_PLUS_NULL_IS_NULL = 515, 516
SUPPORTS_EXPRESSIONS_IN_ORDER_BY, SUPPORTS_ORDER_BY_UNRELATED = 520, 521
SCHEMA_TERM, CATALOG_TERM, SUPPORTS_TRANSACTIONS = 529, 531, 567

_VALUE_TYPE = pa.dense_union(
    [
        pa.field("string_value", pa.utf8()),
        pa.field("bool_value", pa.bool_()),
        pa.field("bigint_value", pa.int64()),
        pa.field("int32_bitmask", pa.int32()),
        pa.field("string_list", pa.list_(pa.field("item", pa.utf8()))),
        pa.field(
            "int32_to_int32_list_map",
            pa.map_(pa.int32(), pa.list_(pa.field("item", pa.int32()))),
        ),
    ]
)
SQL_INFO_SCHEMA = pa.schema(
    [pa.field("info_name", pa.uint32(), nullable=False), pa.field("value", _VALUE_TYPE, nullable=False)]
)


def sql_info_values() -> dict[int, str | bool | int]:
    """What this server says about itself (a bool, a str, or an int32 for enums)."""
    return {
        SERVER_NAME: "ballista-flight",
        SERVER_VERSION: f"{__version__} (DataFusion {DATAFUSION_VERSION})",
        SERVER_ARROW_VERSION: pa.__version__,
        SERVER_READ_ONLY: False,
        SERVER_SQL: True,
        SERVER_SUBSTRAIT: True,
        SERVER_TRANSACTION: 0,  # SqlSupportedTransaction NONE
        SERVER_CANCEL: True,
        STATEMENT_TIMEOUT: 0,
        TRANSACTION_TIMEOUT: 0,
        DDL_CATALOG: False,
        DDL_SCHEMA: True,
        DDL_TABLE: True,
        IDENTIFIER_CASE: 3,  # unquoted names fold to lower case
        IDENTIFIER_QUOTE_CHAR: '"',
        QUOTED_IDENTIFIER_CASE: 0,  # quoted names keep their case
        ALL_TABLES_ARE_SELECTABLE: True,
        NULL_ORDERING: 0,  # NULLs sort high: last ascending, first descending
        SUPPORTS_COLUMN_ALIASING: True,
        NULL_PLUS_NULL_IS_NULL: True,
        SUPPORTS_EXPRESSIONS_IN_ORDER_BY: True,
        SUPPORTS_ORDER_BY_UNRELATED: True,
        SCHEMA_TERM: "schema",
        CATALOG_TERM: "catalog",
        SUPPORTS_TRANSACTIONS: False,
    }


_INT32_INFOS = {SERVER_TRANSACTION, IDENTIFIER_CASE, QUOTED_IDENTIFIER_CASE, NULL_ORDERING}


def sql_info_table(requested: Iterable[int], values: dict[int, str | bool | int]) -> pa.Table:
    """The GetSqlInfo answer for ``requested`` ids (all known ids when empty)."""
    wanted = [i for i in requested if i in values] if requested else sorted(values)
    codes: list[int] = []
    offsets: list[int] = []
    children: list[list[Any]] = [[] for _ in range(6)]
    for info in wanted:
        value = values[info]
        if isinstance(value, bool):
            code = 1
        elif isinstance(value, str):
            code = 0
        else:
            code = 3 if info in _INT32_INFOS else 2
        codes.append(code)
        offsets.append(len(children[code]))
        children[code].append(value)
    arrays = [pa.array(children[i], type=_VALUE_TYPE.field(i).type) for i in range(len(_VALUE_TYPE))]
    union = pa.UnionArray.from_dense(
        pa.array(codes, pa.int8()),
        pa.array(offsets, pa.int32()),
        arrays,
        [_VALUE_TYPE.field(i).name for i in range(len(_VALUE_TYPE))],
    )
    return pa.Table.from_arrays([pa.array(wanted, pa.uint32()), union], schema=SQL_INFO_SCHEMA)


# -- catalog answers ---------------------------------------------------------------
CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])
DB_SCHEMAS_SCHEMA = pa.schema(
    [pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8(), nullable=False)]
)
TABLES_SCHEMA = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("table_type", pa.utf8(), nullable=False),
    ]
)
TABLES_WITH_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), nullable=False))
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])
PRIMARY_KEYS_SCHEMA = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("column_name", pa.utf8(), nullable=False),
        pa.field("key_name", pa.utf8()),
        pa.field("key_sequence", pa.int32(), nullable=False),
    ]
)
# DataFusion's information_schema says 'BASE TABLE'; Flight SQL clients expect 'TABLE'.
TABLE_TYPES = ("TABLE", "VIEW", "SYSTEM TABLE")


@dataclass(frozen=True)
class TableEntry:
    """One table of the scheduler's catalog."""

    catalog: str
    schema: str
    name: str
    table_type: str


def flight_sql_table_type(catalog_type: str, schema: str) -> str:
    """The Flight SQL table type of a table DataFusion reports as ``catalog_type``."""
    if schema == "information_schema":
        return "SYSTEM TABLE"
    return "TABLE" if catalog_type.upper() == "BASE TABLE" else catalog_type.upper()


def like_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """A regex for a Flight SQL filter pattern (``%`` any run, ``_`` one character)."""
    if pattern is None:
        return None
    parts = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _matches(pattern: re.Pattern[str] | None, value: str) -> bool:
    return pattern is None or pattern.fullmatch(value) is not None


def catalogs_table(entries: Iterable[TableEntry], catalogs: Iterable[str]) -> pa.Table:
    """GetCatalogs: every catalog, sorted."""
    names = sorted(set(catalogs) | {e.catalog for e in entries})
    return pa.table({"catalog_name": names}, schema=CATALOGS_SCHEMA)


def db_schemas_table(
    entries: Iterable[TableEntry], schemas: Iterable[tuple[str, str]], command: sql_pb.CommandGetDbSchemas
) -> pa.Table:
    """GetDbSchemas, filtered by catalog and schema pattern, sorted."""
    pattern = like_pattern(
        command.db_schema_filter_pattern if command.HasField("db_schema_filter_pattern") else None
    )
    pairs = set(schemas) | {(e.catalog, e.schema) for e in entries}
    rows = sorted(
        (c, s)
        for c, s in pairs
        if (not command.HasField("catalog") or command.catalog == c) and _matches(pattern, s)
    )
    return pa.table(
        {"catalog_name": [r[0] for r in rows], "db_schema_name": [r[1] for r in rows]},
        schema=DB_SCHEMAS_SCHEMA,
    )


def filter_tables(entries: Iterable[TableEntry], command: sql_pb.CommandGetTables) -> list[TableEntry]:
    """The tables GetTables asks for, in the order the specification wants."""
    schema_pattern = like_pattern(
        command.db_schema_filter_pattern if command.HasField("db_schema_filter_pattern") else None
    )
    table_pattern = like_pattern(
        command.table_name_filter_pattern if command.HasField("table_name_filter_pattern") else None
    )
    types = {t.upper() for t in command.table_types}
    found = [
        e
        for e in entries
        if (not command.HasField("catalog") or command.catalog == e.catalog)
        and _matches(schema_pattern, e.schema)
        and _matches(table_pattern, e.name)
        and (not types or e.table_type in types)
    ]
    return sorted(found, key=lambda e: (e.catalog, e.schema, e.name, e.table_type))


def tables_table(found: list[TableEntry], schemas: list[pa.Schema] | None) -> pa.Table:
    """GetTables' answer; ``schemas`` (one per table) when the client asked for them."""
    columns: dict[str, list[Any]] = {
        "catalog_name": [e.catalog for e in found],
        "db_schema_name": [e.schema for e in found],
        "table_name": [e.name for e in found],
        "table_type": [e.table_type for e in found],
    }
    if schemas is None:
        return pa.table(columns, schema=TABLES_SCHEMA)
    columns["table_schema"] = [s.serialize().to_pybytes() for s in schemas]
    return pa.table(columns, schema=TABLES_WITH_SCHEMA)


def table_types_table() -> pa.Table:
    """GetTableTypes."""
    return pa.table({"table_type": sorted(TABLE_TYPES)}, schema=TABLE_TYPES_SCHEMA)


def primary_keys_table() -> pa.Table:
    """GetPrimaryKeys: DataFusion tables have no primary keys."""
    return PRIMARY_KEYS_SCHEMA.empty_table()


# -- parameters ----------------------------------------------------------------------
# Outside literals, names and comments: a ``?`` placeholder, or an already numbered ``$n``.
_PARAMETER = re.compile(rf"({NOT_CODE.pattern})|\?|\$(\d+)", re.DOTALL)


def number_placeholders(sql: str) -> tuple[str, int]:
    """Rewrite JDBC/ODBC-style ``?`` placeholders as ``$1, $2, ...``; count the parameters.

    ``?`` inside string literals, quoted names and comments is left alone.
    """
    count = 0
    highest = 0

    def rewrite(match: re.Match[str]) -> str:
        nonlocal count, highest
        if match.group(1) is None and match.group(0) == "?":
            count += 1
            return f"${count}"
        if match.group(2) is not None:
            highest = max(highest, int(match.group(2)))
        return match.group(0)

    return _PARAMETER.sub(rewrite, sql), max(count, highest)


def parameter_schema(count: int) -> pa.Schema:
    """The parameters of a statement: ``$1..$n``, typed by what the client binds."""
    return pa.schema([pa.field(f"${i}", pa.null()) for i in range(1, count + 1)])


def bind_values(batch: pa.Table, expected: int) -> dict[str, Any]:
    """DataFusion ``param_values`` (``{"1": scalar, ...}``) from one bound row."""
    if batch.num_rows != 1:
        msg = f"bind exactly one row of parameters (got {batch.num_rows})"
        raise PlanningError(msg)
    if batch.num_columns != expected:
        msg = f"the statement has {expected} parameter(s); {batch.num_columns} were bound"
        raise PlanningError(msg)
    return {str(i + 1): batch.column(i)[0] for i in range(batch.num_columns)}


# -- prepared statements -------------------------------------------------------------
@dataclass
class Prepared:
    """A prepared statement: its SQL with numbered placeholders, and bound values."""

    sql: str
    parameters: int
    dataset_schema: pa.Schema | None
    params: dict[str, Any] = field(default_factory=dict)
    used: float = field(default_factory=time.monotonic)


class PreparedStatements:
    """Prepared statements by handle; idle ones expire, so clients that never close leak nothing."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._by_handle: dict[bytes, Prepared] = {}
        self._lock = threading.Lock()

    def add(self, prepared: Prepared) -> bytes:
        """Keep ``prepared``; return its opaque handle."""
        handle = secrets.token_bytes(16)
        with self._lock:
            self._expire()
            if len(self._by_handle) >= MAX_PREPARED:
                msg = f"too many open prepared statements ({MAX_PREPARED}); close some"
                raise PlanningError(msg)
            self._by_handle[handle] = prepared
        return handle

    def get(self, handle: bytes) -> Prepared:
        """The statement of ``handle``."""
        with self._lock:
            prepared = self._by_handle.get(handle)
        if prepared is None:
            msg = "unknown prepared statement handle (closed, expired, or never created)"
            raise PlanningError(msg)
        prepared.used = time.monotonic()
        return prepared

    def close(self, handle: bytes) -> None:
        """Forget ``handle`` (closing twice is not an error)."""
        with self._lock:
            self._by_handle.pop(handle, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_handle)

    def _expire(self) -> None:
        now = time.monotonic()
        for handle in [h for h, p in self._by_handle.items() if now - p.used > self._ttl_s]:
            del self._by_handle[handle]
