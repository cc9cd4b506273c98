"""The Python client: SQL in, Arrow out, over the public Flight flow only.

It is also the reference for any other Flight client: ``GetFlightInfo`` with
the SQL as a command descriptor, then ``DoGet`` of every endpoint's ticket at
its location (or at the scheduler when the endpoint has none), concatenated in
endpoint order.

``progress=`` (on :meth:`Context.sql`, :meth:`Context.execute`,
:meth:`Result.to_arrow`) follows the query while it runs: ``True`` draws a bar
(Jupyter or terminal), a callable receives every :class:`Progress`.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Union

import pyarrow as pa
from datafusion import AggregateUDF, ScalarUDF, SessionContext, WindowUDF
from pyarrow import flight

from ballista_flight import commands, udfs
from ballista_flight.client.dataframe import DataFrame
from ballista_flight.client.progress import JOB_ID_HEADER, Poller, Progress, default_renderer
from ballista_flight.commands import copy_statement, ident, quote
from ballista_flight.errors import flight_message
from ballista_flight.security import Credentials

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from ballista_flight.proto import ballista_flight_pb2 as pb

# True: the default bar; a callable: called with every change; None/False: nothing.
ProgressArg = Union[bool, "Callable[[Progress], None]", None]

# Tables the DataFrame API registers for read_parquet/read_csv carry this prefix.
SCRATCH_PREFIX = "_bf_read_"


class Result:
    """A query's result; runs on first use and is cached."""

    def __init__(self, ctx: Context, sql: str, progress: ProgressArg = None) -> None:
        self._ctx = ctx
        self.sql = sql
        self.progress = progress
        self._table: pa.Table | None = None
        self.info: flight.FlightInfo | None = None

    def to_arrow(self, progress: ProgressArg = None) -> pa.Table:
        """The whole result as a ``pyarrow.Table``."""
        if self._table is None:
            self.info, self._table = self._ctx._run(self.sql, progress or self.progress)
        return self._table

    @property
    def job_id(self) -> str | None:
        """The scheduler's id of the job that ran this query (once it ran)."""
        return self.info.app_metadata.decode() if self.info is not None else None

    def to_pandas(self) -> pd.DataFrame:
        """The whole result as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def explain(self, analyze: bool = False, format: str = "text") -> str:
        """The distributed plan of this query.

        ``analyze=True`` runs the query on the cluster and annotates every stage and
        operator with what it did (rows, time, spills, shuffle bytes);
        ``format="dot"`` gives the stage graph in Graphviz DOT instead of text.
        """
        if format not in ("text", "dot"):
            msg = f"format must be 'text' or 'dot', not {format!r}"
            raise ValueError(msg)
        table = self._ctx._run(("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + self.sql)[1]
        rows = dict(zip(table.column("plan_type").to_pylist(), table.column("plan").to_pylist(), strict=True))
        if format == "dot":
            return str(rows.get("distributed_plan_dot", ""))
        if analyze:
            return str(rows.get("distributed_plan_analyzed", ""))
        return str(rows.get("distributed_plan") or rows.get("physical_plan") or "")

    def write_parquet(
        self, path: str, *, partition_by: list[str] | None = None, options: dict[str, str] | None = None
    ) -> int:
        """Write the rows as Parquet files under ``path`` (in parallel on the executors); rows written."""
        return self._write(path, "PARQUET", partition_by, options)

    def write_csv(
        self, path: str, *, partition_by: list[str] | None = None, options: dict[str, str] | None = None
    ) -> int:
        """Write the rows as CSV files under ``path``; rows written."""
        return self._write(path, "CSV", partition_by, options)

    def write_json(
        self, path: str, *, partition_by: list[str] | None = None, options: dict[str, str] | None = None
    ) -> int:
        """Write the rows as newline-delimited JSON files under ``path``; rows written."""
        return self._write(path, "JSON", partition_by, options)

    def _write(
        self, path: str, fmt: str, partition_by: list[str] | None, options: dict[str, str] | None
    ) -> int:
        query = self.sql.strip().rstrip(";")
        return written_rows(self._ctx.execute(copy_statement(query, path, fmt, partition_by, options)))

    def __repr__(self) -> str:
        return f"Result({self.sql!r})"


def written_rows(table: pa.Table) -> int:
    """The row count a COPY or INSERT answers with."""
    return int(table.column("count")[0].as_py()) if table.num_rows else 0


class Context:
    """A connection to a ballista-flight scheduler."""

    def __init__(
        self, uri: str, timeout: float | None = None, credentials: Credentials | None = None
    ) -> None:
        self.uri = uri
        self._credentials = credentials or Credentials()
        self._client = self._credentials.client(uri)
        self._timeout = timeout
        self._options = flight.FlightCallOptions(timeout=timeout)
        self._peers: dict[str, flight.FlightClient] = {}
        # Builds DataFrame plans; its tables are empty stand-ins with the cluster's schemas.
        self._planner = SessionContext()
        self.current_job: str | None = None  # the job whose results are being fetched (for cancel)

    @property
    def flight_client(self) -> flight.FlightClient:
        """The authenticated Flight client to the scheduler (for actions such as ``list_jobs``)."""
        return self._client

    def sql(self, query: str, progress: ProgressArg = None) -> Result:
        """A lazily run query."""
        return Result(self, query, progress)

    def execute(self, statement: str, progress: ProgressArg = None) -> pa.Table:
        """Run a statement now and return its result."""
        return self._run(statement, progress)[1]

    def _register(self, name: str, body: str) -> None:
        """(Re)define table ``name``: a second registration replaces the first."""
        self.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        self.execute(f"CREATE EXTERNAL TABLE {ident(name)} {body}")

    def register_parquet(self, name: str, path: str) -> None:
        """Register Parquet files (a file, directory or glob) as table ``name``."""
        self._register(name, f"STORED AS PARQUET LOCATION {quote(path)}")

    def register_csv(self, name: str, path: str, *, has_header: bool = True, delimiter: str = ",") -> None:
        """Register CSV files as table ``name``."""
        options = f"OPTIONS ('format.has_header' '{str(has_header).lower()}', 'format.delimiter' {quote(delimiter)})"
        self._register(name, f"STORED AS CSV LOCATION {quote(path)} {options}")

    def register_json(self, name: str, path: str) -> None:
        """Register newline-delimited JSON files as table ``name``."""
        self._register(name, f"STORED AS JSON LOCATION {quote(path)}")

    def deregister_table(self, name: str) -> None:
        """Drop table ``name``."""
        self.execute(f"DROP TABLE {ident(name)}")

    def tables(self) -> list[str]:
        """Names of the registered tables."""
        table = self.execute("SHOW TABLES")
        schemas = table.column("table_schema").to_pylist()
        names = table.column("table_name").to_pylist()
        return sorted(
            n
            for s, n in zip(schemas, names, strict=True)
            if s != "information_schema" and not n.startswith(SCRATCH_PREFIX)
        )

    # -- Python functions -----------------------------------------------------------
    def register_udf(self, function: ScalarUDF) -> None:
        """Make a scalar UDF (``datafusion.udf``) callable in this cluster's queries."""
        self._register_function(function)

    def register_udaf(self, function: AggregateUDF) -> None:
        """Make an aggregate UDF (``datafusion.udaf``) callable in this cluster's queries."""
        self._register_function(function)

    def register_udwf(self, function: WindowUDF) -> None:
        """Make a window UDF (``datafusion.udwf``) callable in this cluster's queries."""
        self._register_function(function)

    def deregister_function(self, name: str) -> None:
        """Forget the Python function ``name`` (scalar, aggregate or window)."""
        list(self._client.do_action(flight.Action("deregister_function", name.encode()), self._options))

    def _register_function(self, function: udfs.UserDefined) -> None:
        """Send the function's signature and cloudpickled code to the scheduler.

        The scheduler plans with a stand-in; executors run the real code, so
        whatever it imports must be installed on them.
        """
        body = udfs.describe(function).SerializeToString()
        list(self._client.do_action(flight.Action("register_function", body), self._options))
        udfs.register(self._planner, function)

    # -- DataFrame API -------------------------------------------------------------
    def table(self, name: str) -> DataFrame:
        """A DataFrame over the cluster's table ``name``."""
        descriptor = flight.FlightDescriptor.for_command(f"SELECT * FROM {ident(name)}".encode())
        schema = self._client.get_schema(descriptor, self._options).schema
        if self._planner.table_exist(name):
            self._planner.deregister_table(name)
        self._planner.register_record_batches(name, [[pa.RecordBatch.from_pylist([], schema=schema)]])
        return DataFrame(self, self._planner.table(name))

    def read_parquet(self, path: str) -> DataFrame:
        """A DataFrame over Parquet files (a file, directory or glob the cluster can read)."""
        name = _scratch_name("parquet", path)
        self.register_parquet(name, path)
        return self.table(name)

    def read_csv(self, path: str, *, has_header: bool = True, delimiter: str = ",") -> DataFrame:
        """A DataFrame over CSV files the cluster can read."""
        name = _scratch_name("csv", path, str(has_header), delimiter)
        self.register_csv(name, path, has_header=has_header, delimiter=delimiter)
        return self.table(name)

    csv = read_csv

    def read_json(self, path: str) -> DataFrame:
        """A DataFrame over newline-delimited JSON files the cluster can read."""
        name = _scratch_name("json", path)
        self.register_json(name, path)
        return self.table(name)

    def _run_command(self, command: pb.SubstraitPlanCommand) -> tuple[flight.FlightInfo, pa.Table]:
        return self._run_descriptor(commands.pack(command))

    def _run(self, sql: str, progress: ProgressArg = None) -> tuple[flight.FlightInfo, pa.Table]:
        return self._run_descriptor(sql.encode(), progress)

    def _run_descriptor(
        self, command: bytes, progress: ProgressArg = None
    ) -> tuple[flight.FlightInfo, pa.Table]:
        callback = default_renderer() if progress is True else (progress or None)
        if callback is None:
            return self._run_plain(command, self._options)
        # Name the job, so its status can be polled while GetFlightInfo runs.
        job_id = uuid.uuid4().hex[:16]
        options = flight.FlightCallOptions(timeout=self._timeout, headers=[(JOB_ID_HEADER, job_id.encode())])
        self.current_job = job_id  # known before GetFlightInfo answers: Ctrl-C can cancel it
        poller = Poller(self._client, self._options, job_id, callback).start()
        try:
            return self._run_plain(command, options)
        finally:
            poller.stop()
            close = getattr(callback, "close", None)
            if close is not None and progress is True:
                close()

    def _run_plain(
        self, command: bytes, options: flight.FlightCallOptions
    ) -> tuple[flight.FlightInfo, pa.Table]:
        try:
            info = self._client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
            self.current_job = info.app_metadata.decode() if info.app_metadata else None
            tables = [self._fetch(endpoint) for endpoint in info.endpoints]
        except flight.FlightError as exc:
            # The server's one-line message; gRPC appends its debug context once per hop.
            raise type(exc)(flight_message(exc), exc.extra_info) from None
        if not tables:
            return info, info.schema.empty_table()
        return info, pa.concat_tables(tables)

    def _fetch(self, endpoint: flight.FlightEndpoint) -> pa.Table:
        """One endpoint's rows; if its executor fails, the same ticket at the scheduler.

        The scheduler then runs the piece on a live executor, recomputing inputs that
        were lost with an executor (see ``JobManager.run_result``).
        """
        if not endpoint.locations:
            return self._client.do_get(endpoint.ticket, self._options).read_all()
        uri = endpoint.locations[0].uri.decode()
        client = self._peers.get(uri) or self._peers.setdefault(uri, self._credentials.client(uri))
        try:
            return client.do_get(endpoint.ticket, self._options).read_all()
        except (
            flight.FlightUnauthorizedError,
            flight.FlightUnauthenticatedError,
            flight.FlightTimedOutError,
        ):
            raise  # a refused or finished ticket, or our own deadline: asking again will not help
        except flight.FlightError:
            return self._client.do_get(endpoint.ticket, self._options).read_all()

    def close(self) -> None:
        """Close the connections."""
        for peer in self._peers.values():
            peer.close()
        self._client.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scratch_name(*parts: str) -> str:
    """A stable table name for one read_* source (the same path reuses its table)."""
    return SCRATCH_PREFIX + hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def _read(path: str | Path | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def connect(
    uri: str = "grpc://127.0.0.1:50050",
    timeout: float | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    tls_root_certs: str | Path | None = None,
    cert_chain: str | Path | None = None,
    private_key: str | Path | None = None,
) -> Context:
    """Connect to the scheduler at ``uri`` (``grpc+tls://`` for TLS).

    With ``username``/``password`` the client logs in (Basic) and uses the bearer
    token it gets back; ``token`` is a static bearer token. ``tls_root_certs`` is a
    PEM file of the CA to trust; ``cert_chain``/``private_key`` are the client's
    certificate for mutual TLS. The token and certificates go to the executors too.
    """
    credentials = Credentials(
        token=token,
        tls_root_certs=_read(tls_root_certs),
        cert_chain=_read(cert_chain),
        private_key=_read(private_key),
    )
    if username is not None:
        with credentials.client(uri) as login:
            _, value = login.authenticate_basic_token(username, password or "")
        credentials.token = (value.decode() if isinstance(value, bytes) else value).removeprefix("Bearer ")
    return Context(uri, timeout, credentials)
