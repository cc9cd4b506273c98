"""The scheduler's Flight SQL calls, over the same JobManager as plain SQL.

Queries run exactly as plain SQL does (endpoints at the executors, fetched in
parallel by drivers such as ADBC); catalog commands are answered by the
scheduler from its ``information_schema``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyarrow import flight

from ballista_flight.errors import PlanningError, Unsupported
from ballista_flight.proto import flight_actions_pb2 as actions_pb
from ballista_flight.proto import flight_sql_pb2 as sql_pb
from ballista_flight.scheduler import flightsql as fsql
from ballista_flight.scheduler.statements import StatementKind, classify

if TYPE_CHECKING:
    from collections.abc import Callable

    from google.protobuf.message import Message

    from ballista_flight.scheduler.jobs import JobManager, Submitted

log = logging.getLogger("ballista_flight.scheduler")

PREPARED_TTL_S = 3600.0
# Flight SQL actions answered UNIMPLEMENTED on purpose (not "unknown action").
UNSUPPORTED_ACTIONS = {
    "BeginTransaction": "transactions are not supported",
    "EndTransaction": "transactions are not supported",
    "BeginSavepoint": "savepoints are not supported",
    "EndSavepoint": "savepoints are not supported",
    "CreatePreparedSubstraitPlan": "prepared Substrait plans are not supported",
    "SetSessionOptions": "session options are not supported; use SET statements",
    "GetSessionOptions": "session options are not supported; use SHOW statements",
    "RenewFlightEndpoint": "endpoints cannot be renewed; run the query again",
}
FLIGHT_SQL_ACTIONS = [
    ("CreatePreparedStatement", "Flight SQL: prepare a statement (dataset and parameter schemas)."),
    ("ClosePreparedStatement", "Flight SQL: close a prepared statement."),
    ("CancelFlightInfo", "Cancel the query behind a FlightInfo: its tasks stop, its data is freed."),
    ("CancelQuery", "Flight SQL (deprecated): cancel the query behind a FlightInfo."),
    ("CloseSession", "End the client's session."),
]


def _not_transactional(message: Message) -> None:
    if message.HasField("transaction_id"):  # type: ignore[arg-type]
        msg = "transactions are not supported"
        raise Unsupported(msg)


class FlightSqlHandler:
    """Answers the Flight SQL commands and actions of one scheduler."""

    def __init__(self, jobs: JobManager, fetch: Callable[[bytes, str | None], pa.Table]) -> None:
        self.jobs = jobs
        self._fetch = fetch
        self.prepared = fsql.PreparedStatements(PREPARED_TTL_S)

    # -- GetFlightInfo -----------------------------------------------------------
    def submit(
        self, command: Message, client_gone: Callable[[], bool], job_id: str | None = None
    ) -> Submitted:
        """Run a Flight SQL command; the result's endpoints (``job_id``: the one the client chose)."""
        if isinstance(command, sql_pb.CommandStatementQuery):
            _not_transactional(command)
            sql, _ = fsql.number_placeholders(command.query)
            return self.jobs.submit(sql, client_gone=client_gone, job_id=job_id)
        if isinstance(command, sql_pb.CommandPreparedStatementQuery):
            prepared = self.prepared.get(command.prepared_statement_handle)
            self._check_bound(prepared)
            return self.jobs.submit(
                prepared.sql, client_gone=client_gone, params=prepared.params, job_id=job_id
            )
        if isinstance(command, (sql_pb.CommandStatementUpdate, sql_pb.CommandPreparedStatementUpdate)):
            msg = "updates run with DoPut, not GetFlightInfo"
            raise PlanningError(msg)
        if isinstance(command, sql_pb.CommandStatementSubstraitPlan):
            _not_transactional(command)
            return self.jobs.submit_substrait(command.plan.plan, client_gone=client_gone)
        label = f"-- Flight SQL {command.DESCRIPTOR.name}"
        return self.jobs.submit_local(label, self.metadata(command))

    @staticmethod
    def _check_bound(prepared: fsql.Prepared) -> None:
        if prepared.parameters and len(prepared.params) != prepared.parameters:
            msg = f"the statement has {prepared.parameters} parameter(s); bind them with DoPut first"
            raise PlanningError(msg)

    def metadata(self, command: Message) -> pa.Table:
        """The answer to a catalog command."""
        if isinstance(command, sql_pb.CommandGetSqlInfo):
            return fsql.sql_info_table(list(command.info), fsql.sql_info_values())
        if isinstance(command, sql_pb.CommandGetTableTypes):
            return fsql.table_types_table()
        if isinstance(command, sql_pb.CommandGetPrimaryKeys):
            return fsql.primary_keys_table()
        entries, schemata = self._catalog()
        if isinstance(command, sql_pb.CommandGetCatalogs):
            return fsql.catalogs_table(entries, (c for c, _ in schemata))
        if isinstance(command, sql_pb.CommandGetDbSchemas):
            return fsql.db_schemas_table(entries, schemata, command)
        if isinstance(command, sql_pb.CommandGetTables):
            found = fsql.filter_tables(entries, command)
            schemas = None
            if command.include_schema:
                schemas = [self.jobs.table_schema(e.catalog, e.schema, e.name) for e in found]
            return fsql.tables_table(found, schemas)
        msg = f"Flight SQL {command.DESCRIPTOR.name} is not supported by GetFlightInfo"
        raise Unsupported(msg)

    def _catalog(self) -> tuple[list[fsql.TableEntry], list[tuple[str, str]]]:
        tables, schemata = self.jobs.catalog()
        entries = [
            fsql.TableEntry(c, s, n, fsql.flight_sql_table_type(t, s))
            for c, s, n, t in zip(*(tables.column(i).to_pylist() for i in range(4)), strict=True)
        ]
        pairs = list(zip(*(schemata.column(i).to_pylist() for i in range(2)), strict=True))
        return entries, pairs

    # -- GetSchema ---------------------------------------------------------------
    def schema(self, command: Message) -> pa.Schema:
        """The schema a command's result will have."""
        if isinstance(command, sql_pb.CommandStatementQuery):
            sql, _ = fsql.number_placeholders(command.query)
            return self._statement_schema(sql)
        if isinstance(command, sql_pb.CommandPreparedStatementQuery):
            prepared = self.prepared.get(command.prepared_statement_handle)
            return prepared.dataset_schema or pa.schema([])
        if isinstance(command, sql_pb.CommandStatementSubstraitPlan):
            return self.jobs.plan_substrait(command.plan.plan).schema()
        if isinstance(command, sql_pb.CommandGetSqlInfo):
            return fsql.SQL_INFO_SCHEMA
        if isinstance(command, sql_pb.CommandGetCatalogs):
            return fsql.CATALOGS_SCHEMA
        if isinstance(command, sql_pb.CommandGetDbSchemas):
            return fsql.DB_SCHEMAS_SCHEMA
        if isinstance(command, sql_pb.CommandGetTables):
            return fsql.TABLES_WITH_SCHEMA if command.include_schema else fsql.TABLES_SCHEMA
        if isinstance(command, sql_pb.CommandGetTableTypes):
            return fsql.TABLE_TYPES_SCHEMA
        if isinstance(command, sql_pb.CommandGetPrimaryKeys):
            return fsql.PRIMARY_KEYS_SCHEMA
        msg = f"GetSchema of Flight SQL {command.DESCRIPTOR.name} is not supported"
        raise Unsupported(msg)

    def _statement_schema(self, sql: str) -> pa.Schema | None:
        """A query's schema without running it; None for statements with effects (DDL, SET)."""
        kind, text = classify(sql)
        if kind is StatementKind.QUERY:
            return self.jobs.plan_sql(text).schema()
        if kind is StatementKind.EXPLAIN:
            return pa.schema([("plan_type", pa.utf8()), ("plan", pa.utf8())])
        return None

    # -- DoPut -------------------------------------------------------------------
    def do_put(self, command: Message, reader: flight.MetadataRecordBatchReader) -> bytes:
        """Run an update or bind parameters; the PutResult metadata to answer with."""
        if isinstance(command, sql_pb.CommandStatementUpdate):
            _not_transactional(command)
            sql, _ = fsql.number_placeholders(command.query)
            return self._update(sql, {})
        if isinstance(command, sql_pb.CommandPreparedStatementQuery):
            prepared = self.prepared.get(command.prepared_statement_handle)
            prepared.params = fsql.bind_values(reader.read_all(), prepared.parameters)
            result = sql_pb.DoPutPreparedStatementResult(
                prepared_statement_handle=command.prepared_statement_handle
            )
            return bytes(result.SerializeToString())
        if isinstance(command, sql_pb.CommandPreparedStatementUpdate):
            prepared = self.prepared.get(command.prepared_statement_handle)
            bound = reader.read_all()
            if bound.num_columns:  # parameters sent with the update itself
                return self._update(prepared.sql, fsql.bind_values(bound, prepared.parameters))
            self._check_bound(prepared)  # else those bound earlier
            return self._update(prepared.sql, prepared.params)
        msg = f"DoPut of Flight SQL {command.DESCRIPTOR.name} is not supported"
        raise Unsupported(msg)

    def _update(self, sql: str, params: dict[str, Any]) -> bytes:
        submitted = self.jobs.submit(sql, params=params)
        tables = [self._fetch(e.ticket, e.location) for e in submitted.endpoints]
        count = 0  # DDL and SET change no rows
        if tables and tables[0].column_names == ["count"]:
            count = sum(sum(v or 0 for v in t.column(0).to_pylist()) for t in tables)
        return bytes(sql_pb.DoPutUpdateResult(record_count=count).SerializeToString())

    # -- DoAction ----------------------------------------------------------------
    def action(self, kind: str, body: bytes, cancel: Callable[[str], int]) -> list[bytes] | None:
        """Answer a Flight SQL / standard action; None when ``kind`` is not one."""
        if kind in UNSUPPORTED_ACTIONS:
            raise Unsupported(UNSUPPORTED_ACTIONS[kind])
        if kind == "CreatePreparedStatement":
            request = self._unpack(body, sql_pb.ActionCreatePreparedStatementRequest)
            _not_transactional(request)
            return [fsql.pack(self._prepare(request.query))]
        if kind == "ClosePreparedStatement":
            close = self._unpack(body, sql_pb.ActionClosePreparedStatementRequest)
            self.prepared.close(close.prepared_statement_handle)
            return []
        if kind == "CancelFlightInfo":
            request = actions_pb.CancelFlightInfoRequest()
            request.ParseFromString(body)
            status = cancel(_job_of(request.info))
            return [actions_pb.CancelFlightInfoResult(status=status).SerializeToString()]  # type: ignore[arg-type]
        if kind == "CancelQuery":
            legacy = self._unpack(body, sql_pb.ActionCancelQueryRequest)
            status = cancel(_job_of(legacy.info))
            result = sql_pb.ActionCancelQueryResult(result=status)  # type: ignore[arg-type]
            return [fsql.pack(result)]
        if kind == "CloseSession":
            closed = actions_pb.CloseSessionResult(status=actions_pb.CloseSessionResult.CLOSED)
            return [closed.SerializeToString()]
        return None

    @staticmethod
    def _unpack(body: bytes, cls: type[Message]) -> Any:
        message = fsql.unpack(body)
        if not isinstance(message, cls):
            msg = f"expected a packed Flight SQL {cls.DESCRIPTOR.name}"
            raise PlanningError(msg)
        return message

    def _prepare(self, query: str) -> sql_pb.ActionCreatePreparedStatementResult:
        sql, parameters = fsql.number_placeholders(query)
        schema = self._statement_schema(sql) if parameters == 0 else self._parameterised_schema(sql)
        handle = self.prepared.add(fsql.Prepared(sql, parameters, schema))
        return sql_pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=(schema or pa.schema([])).serialize().to_pybytes(),
            parameter_schema=fsql.parameter_schema(parameters).serialize().to_pybytes(),
        )

    def _parameterised_schema(self, sql: str) -> pa.Schema | None:
        # DataFusion plans placeholders with their types inferred from context.
        try:
            return self._statement_schema(sql)
        except PlanningError:
            log.debug("no schema for a parameterised statement before binding", exc_info=True)
            return None


def _job_of(info_bytes: bytes) -> str:
    """The job id of a serialized FlightInfo this scheduler handed out."""
    try:
        info = flight.FlightInfo.deserialize(info_bytes)
    except Exception as exc:
        msg = "not a serialized FlightInfo"
        raise PlanningError(msg) from exc
    job_id = info.app_metadata.decode(errors="replace") if info.app_metadata else ""
    if not job_id:
        msg = "this FlightInfo was not issued by this scheduler (no job id)"
        raise PlanningError(msg)
    return job_id
