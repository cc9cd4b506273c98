"""Jobs: planning a statement, running its stages on the executors, tracking results.

A query becomes a DataFusion physical plan, cut into stages. Map stages run as
soon as their inputs are complete, each task on an executor slot. When only the
final stage is left, the client gets one endpoint per final partition; fetching
an endpoint runs that task on its executor and streams the rows. When every
endpoint was read (or the result TTL passed) the executors drop the job's
shuffle data.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyarrow import flight

from ballista_flight.commands import copy_statement, ident
from ballista_flight.errors import (
    ExecutorUnavailable,
    PlanningError,
    TaskFailed,
    TicketError,
    datafusion_message,
    flight_message,
)
from ballista_flight.logging_setup import job_context
from ballista_flight.objectstore import ObjectStores, S3Settings, buckets_in
from ballista_flight.peers import ClientPool
from ballista_flight.plan.physical import PlanNode, snapshot
from ballista_flight.plan.session import REQUIRED_SETTINGS, make_context, placeholder
from ballista_flight.plan.stages import (
    ExchangeKind,
    Stage,
    cut_stages,
    fuse,
    fuses_into,
    one_stage,
    render,
    runs_as_one_task,
    scanned_bytes,
    slice_tasks,
    stage_depths,
    to_dot,
)
from ballista_flight.plan.substrait import from_substrait
from ballista_flight.plan.writes import split_sink, temporary_url
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.scheduler import report
from ballista_flight.scheduler.dataroots import check_statement, parse_roots
from ballista_flight.scheduler.statements import (
    MAX_OPERATORS,
    MAX_SQL_BYTES,
    StatementKind,
    classify,
    explain_options,
    operator_count,
)
from ballista_flight.security import internal_credentials
from ballista_flight.storage import Storage
from ballista_flight.tickets import sign
from ballista_flight.udfs import referenced, register, stand_in

if TYPE_CHECKING:
    from collections.abc import Callable

    from datafusion import DataFrame

    from ballista_flight.config import SchedulerConfig
    from ballista_flight.scheduler.cluster import Cluster, ExecutorInfo

log = logging.getLogger("ballista_flight.scheduler")

_KIND_TO_PB = {
    ExchangeKind.REPARTITION: pb.OUTPUT_REPARTITION,
    ExchangeKind.MERGE: pb.OUTPUT_MERGE,
    ExchangeKind.RESULT: pb.OUTPUT_RESULT,
    ExchangeKind.WRITE: pb.OUTPUT_WRITE,
}
# How long a failed write waits for its running tasks before removing their files.
WRITE_DRAIN_S = 30.0
CALL_TIMEOUT_S = 30.0
# A job id a client chose (to follow its job while GetFlightInfo runs).
JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class JobCancelled(TaskFailed):
    """The client or an operator cancelled the job."""


# `SET ballista.shuffle_partitions = N`: partitions per exchange for later queries.
SHUFFLE_PARTITIONS_KEY = "ballista.shuffle_partitions"
BATCH_SIZE_KEY = "datafusion.execution.batch_size"


def planner_settings(config: SchedulerConfig) -> dict[str, str]:
    """Session settings the scheduler plans with, before any SET: how joins are distributed,
    and the batch size (tasks get it too: ``JobManager._settings``).

    A broadcast join ships its small side to every task and leaves the big side where
    it is read; a partitioned join shuffles both. Shuffling costs far more here than in
    one process, so the threshold is above DataFusion's 1 MB (measured on TPC-H SF1 in
    benchmarks/README.md).
    """
    return {
        "datafusion.optimizer.hash_join_single_partition_threshold": str(config.broadcast_join_bytes),
        "datafusion.optimizer.hash_join_single_partition_threshold_rows": str(config.broadcast_join_rows),
        BATCH_SIZE_KEY: str(config.batch_size),
    }


def parse_set(sql: str) -> tuple[str, str] | None:
    """``(key, value)`` of a ``SET key = value`` statement, else None."""
    kind, _ = classify(sql)
    if kind is not StatementKind.CATALOG:
        return None
    words = sql.strip().rstrip(";").split(None, 1)
    if len(words) < 2 or words[0].lower() != "set":
        return None
    body = words[1]
    if "=" in body:
        key, value = body.split("=", 1)
    elif " to " in body.lower():
        index = body.lower().index(" to ")
        key, value = body[:index], body[index + 4 :]
    else:
        return None
    return key.strip().lower(), value.strip().strip("'\"")


@dataclass
class Job:
    """One statement's execution state."""

    job_id: str
    sql: str
    state: int = pb.JOB_QUEUED
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str = ""
    stages: list[Stage] = field(default_factory=list)
    depths: dict[int, int] = field(default_factory=dict)  # stage id -> exchanges to the result
    outputs: dict[int, list[pb.MapOutputLocation]] = field(default_factory=dict)
    schemas: dict[int, bytes] = field(default_factory=dict)
    tasks_done: dict[int, int] = field(default_factory=dict)
    task_statuses: list[pb.TaskStatus] = field(default_factory=list)
    planned_s: float = 0.0
    map_stages_s: float = 0.0
    # stage id -> (seconds after the job started when it began, and when it ended)
    stage_times: dict[int, tuple[float, float]] = field(default_factory=dict)
    lost_executors: set[str] = field(default_factory=set)
    client_gone: Callable[[], bool] | None = None
    final_pending: set[int] = field(default_factory=set)
    executors_used: set[str] = field(default_factory=set)
    local_result: pa.Table | None = None
    settings: dict[str, str] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)
    # Values of the statement's $1, $2, ... placeholders (DataFusion param_values).
    params: dict[str, Any] = field(default_factory=dict)
    write_dir: str = ""  # COPY / INSERT: where tasks write before the files are published
    recovering: threading.Lock = field(default_factory=threading.Lock)
    started_at: float = field(default_factory=time.time)
    # stage id -> seconds after the job started when its first task was launched
    stage_started: dict[int, float] = field(default_factory=dict)
    # final-stage tasks (reported by executors when their stream ended, or run by EXPLAIN ANALYZE)
    result_tasks: list[pb.TaskStatus] = field(default_factory=list)
    # task attempts that failed (lost executors, errors), with their error
    failed_tasks: list[pb.TaskStatus] = field(default_factory=list)
    analyze: bool = False
    result_schema: bytes = b""

    def status(self) -> pb.JobStatus:
        """The job as a protobuf message: state, per-stage progress, rows and bytes."""
        return report.job_status(self)


# Upper bounds (seconds) of the task duration histogram on /metrics.
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Attempt:
    """One run of a map task: where it ran, and the executors it should avoid."""

    stage: Stage
    task: int
    avoid: set[str] = field(default_factory=set)
    executor_id: str = ""


def exhausted_message(stage_id: int, task: int, attempts: int, last_error: str | None) -> str:
    """Why a query failed after retrying a task: what failed where, and the last error."""
    return f"stage {stage_id} task {task} failed {attempts} times; last error: {last_error or 'unknown'}"


@dataclass
class Totals:
    """Counters over all jobs since the scheduler started (for /metrics)."""

    tasks: int = 0
    task_seconds: float = 0.0
    shuffle_bytes: int = 0
    remote_bytes: int = 0
    shuffle_rows: int = 0
    read_bytes: int = 0  # shuffle bytes tasks read, local and remote
    jobs_finished: dict[str, int] = field(default_factory=dict)
    spilled_bytes: int = 0  # operators' own spills (sorts, joins, aggregates) inside tasks
    # task durations: count per upper bound of TASK_BUCKETS (the last is +Inf)
    task_buckets: list[int] = field(default_factory=lambda: [0] * (len(TASK_BUCKETS) + 1))

    def add_task(self, status: pb.TaskStatus) -> None:
        """Count a finished task."""
        self.tasks += 1
        self.task_seconds += status.elapsed_s
        self.shuffle_bytes += status.bytes
        self.remote_bytes += status.bytes_fetched_remote
        self.read_bytes += status.bytes_fetched_remote + status.bytes_read_local
        self.spilled_bytes += sum(op.spilled_bytes for op in status.operators)
        index = next(
            (i for i, bound in enumerate(TASK_BUCKETS) if status.elapsed_s <= bound), len(TASK_BUCKETS)
        )
        self.task_buckets[index] += 1


@dataclass
class Endpoint:
    """A piece of a result: a signed ticket, and where to fetch it (None: the scheduler)."""

    ticket: bytes
    location: str | None


@dataclass
class Submitted:
    """What GetFlightInfo answers with."""

    job_id: str
    schema: pa.Schema
    endpoints: list[Endpoint]
    ordered: bool


class JobManager:
    """Plans statements and runs their jobs on the cluster."""

    def __init__(self, config: SchedulerConfig, cluster: Cluster, secret: bytes, uri: str) -> None:
        self.config = config
        self.cluster = cluster
        self.secret = secret
        self.uri = uri
        # Plans name Python UDFs instead of inlining their code: the functions
        # registered here are stand-ins; tasks carry the real ones (udfs.py).
        self._ctx = make_context(2, planner_settings(config)).with_python_udf_inlining(enabled=False)
        self._functions: dict[str, pb.UserFunction] = {}
        self._ctx_lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="task")
        self._release_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="release")
        self._clients = ClientPool(internal_credentials(config))
        self._rr = itertools.count()
        # The session's settings that tasks run with: the batch size, then whatever SET changed.
        self._settings: dict[str, str] = {BATCH_SIZE_KEY: str(config.batch_size)}
        self._data_roots = parse_roots(config.data_roots)
        self.stats = Totals()
        self.object_stores = ObjectStores(S3Settings.from_config(config))
        self._buckets: set[str] = set()
        self.storage = Storage(s3=self.object_stores.settings.filesystem)

    # -- entry point -----------------------------------------------------------
    def submit(
        self,
        sql: str,
        client_gone: Callable[[], bool] | None = None,
        params: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> Submitted:
        """Run ``sql`` up to its final stage; return the result's schema and endpoints.

        ``client_gone`` tells whether the caller cancelled or timed out; the job then stops.
        ``params`` are the values of ``$1, $2, ...`` (keys ``"1", "2", ...``).
        ``job_id`` is an id the client chose, so it can follow the job (``job_status``)
        while this call still runs.
        """
        if len(sql.encode()) > MAX_SQL_BYTES:
            msg = f"SQL text is {len(sql.encode())} bytes; the limit is {MAX_SQL_BYTES}"
            raise PlanningError(msg)
        if not sql.strip():
            msg = "empty SQL statement"
            raise PlanningError(msg)
        operators = operator_count(sql)
        if operators > MAX_OPERATORS:
            msg = f"statement too complex: {operators} operators (the limit is {MAX_OPERATORS})"
            raise PlanningError(msg)
        job = self._new_job(sql, client_gone, params, job_id)
        with job_context(job.job_id):
            log.debug("job submitted: %s", " ".join(sql.split())[:200])
            try:
                return self._submit(job)
            except BaseException as exc:
                self._fail(job, exc)
                raise

    def submit_substrait(
        self,
        plan: bytes,
        client_gone: Callable[[], bool] | None = None,
        *,
        explain: bool = False,
        copy: pb.CopyTarget | None = None,
    ) -> Submitted:
        """Run a serialized Substrait plan exactly like a planned SQL query.

        The DataFrame API's plans arrive here, and so can Flight SQL's
        ``CommandStatementSubstraitPlan``. ``explain`` answers with the
        distributed plan instead of running it; ``copy`` writes the rows to files.
        """
        job = self._new_job(f"<substrait plan, {len(plan)} bytes>", client_gone)
        try:
            df = self.plan_substrait(plan)
            if copy is not None:
                return self._copy_dataframe(job, df, copy)
            if explain:
                return self._explain_dataframe(job, df)
            return self._run_dataframe(job, df)
        except BaseException as exc:
            self._fail(job, exc)
            raise

    def _copy_dataframe(self, job: Job, df: DataFrame, copy: pb.CopyTarget) -> Submitted:
        """``COPY (df) TO ...``: the plan becomes a view for the length of the statement."""
        name = f"_bf_copy_{job.job_id}"
        with self._ctx_lock:
            self._ctx.register_view(name, df)
        try:
            sql = copy_statement(
                f"SELECT * FROM {ident(name)}",
                copy.path,
                copy.format,
                list(copy.partition_by),
                dict(copy.options),
            )
            return self._run_dataframe(job, self.plan_sql(sql))
        finally:
            with self._ctx_lock:
                self._ctx.deregister_table(name)

    def _new_job(
        self,
        sql: str,
        client_gone: Callable[[], bool] | None,
        params: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> Job:
        """A new tracked job; ``job_id`` is one the client chose (checked), else a fresh one."""
        if job_id is not None and not JOB_ID.match(job_id):
            msg = "a job id is 1 to 64 letters, digits, '.', '_' or '-'"
            raise PlanningError(msg)
        job = Job(
            job_id=job_id or uuid.uuid4().hex[:16], sql=sql, client_gone=client_gone, params=params or {}
        )
        with self._jobs_lock:
            if job.job_id in self._jobs:
                msg = f"job id {job.job_id} is already in use"
                raise PlanningError(msg)
            self._jobs[job.job_id] = job
        return job

    def _submit(self, job: Job) -> Submitted:
        kind, text = classify(job.sql)
        if kind is StatementKind.EXPLAIN:
            return self._explain(job, text)
        if kind is StatementKind.CATALOG:
            df = self.plan_sql(job.sql)
            return self._local(job, df.to_arrow_table())
        df = self.plan_sql(text, job.params)
        if kind is StatementKind.LOCAL:
            return self._local(job, self._collect_locally(df))
        return self._run_dataframe(job, df)

    def _run_dataframe(self, job: Job, df: DataFrame) -> Submitted:
        """Run a planned query on the executors (or here, if only the scheduler can)."""
        stages = self._stages(df)
        if stages is None:  # the plan reads something only the scheduler has
            return self._local(job, self._collect_locally(df))
        job.stages = stages
        if stages[-1].output is ExchangeKind.WRITE:
            return self._run_write(job)
        return self._run(job, df.schema())

    # -- planning ----------------------------------------------------------------
    def _target_partitions(self) -> int:
        if self.config.shuffle_partitions > 0:
            return self.config.shuffle_partitions
        return max(2, self.cluster.total_slots())

    def submit_local(self, label: str, table: pa.Table) -> Submitted:
        """A job whose result the scheduler already has (catalog answers): one endpoint."""
        job = Job(job_id=uuid.uuid4().hex[:16], sql=label)
        with self._jobs_lock:
            self._jobs[job.job_id] = job
        return self._local(job, table)

    def catalog(self) -> tuple[pa.Table, pa.Table]:
        """The scheduler's ``information_schema`` tables and schemata."""
        with self._ctx_lock:
            tables = self._ctx.sql(
                "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables"
            ).to_arrow_table()
            schemata = self._ctx.sql(
                "SELECT catalog_name, schema_name FROM information_schema.schemata"
            ).to_arrow_table()
        return tables, schemata

    def table_schema(self, catalog: str, schema: str, table: str) -> pa.Schema:
        """The Arrow schema of a registered table."""
        name = ".".join('"' + part.replace('"', '""') + '"' for part in (catalog, schema, table))
        with self._ctx_lock:
            try:
                return self._ctx.table(name).schema()
            except Exception as exc:
                raise PlanningError(datafusion_message(exc)) from exc

    def plan_sql(self, sql: str, params: dict[str, Any] | None = None) -> DataFrame:
        """Plan ``sql`` on the scheduler's session (applying and remembering SET statements)."""
        setting = parse_set(sql)
        if setting is not None:
            key, value = setting
            if key in REQUIRED_SETTINGS:
                msg = f"{key} is fixed by ballista-flight: distributed execution depends on it"
                raise PlanningError(msg)
            if key == SHUFFLE_PARTITIONS_KEY:
                key = "datafusion.execution.target_partitions"
                if value.strip() == "0":  # back to the default: the cluster's slots
                    self._settings.pop(key, None)
                    value = str(self._target_partitions())
                sql = f"SET {key} = {value}"
        with self._ctx_lock:
            check_statement(self._ctx, sql, self._data_roots)
            try:
                self._set_target_partitions()
                self._use_buckets(buckets_in(sql))
                df = self._ctx.sql(sql, param_values=params) if params else self._ctx.sql(sql)
            except Exception as exc:
                raise PlanningError(datafusion_message(exc)) from exc
            if setting is not None and not (setting[0] == SHUFFLE_PARTITIONS_KEY and setting[1] == "0"):
                self._settings[key] = value
            return df

    def plan_substrait(self, plan: bytes) -> DataFrame:
        """Read a serialized Substrait plan into the scheduler's session."""
        with self._ctx_lock:
            try:
                self._set_target_partitions()
            except Exception as exc:
                raise PlanningError(datafusion_message(exc)) from exc
            return from_substrait(self._ctx, plan)

    def register_function(self, function: pb.UserFunction) -> None:
        """Make a Python UDF callable in this session's queries (replacing one of the same name)."""
        if not function.name or not function.code:
            msg = "a function needs a name and code"
            raise PlanningError(msg)
        try:
            standing_in = stand_in(function)
        except (PlanningError, ValueError, TypeError, pa.ArrowInvalid) as exc:
            msg = f"invalid function {function.name!r}: {exc}"
            raise PlanningError(msg) from exc
        with self._ctx_lock:
            register(self._ctx, standing_in)
            self._functions[function.name] = function

    def deregister_function(self, name: str) -> None:
        """Forget a Python UDF registered with ``register_function``."""
        with self._ctx_lock:
            function = self._functions.pop(name, None)
            if function is None:
                msg = f"no Python function named {name!r} is registered"
                raise PlanningError(msg)
            if function.kind == pb.FUNCTION_SCALAR:
                self._ctx.deregister_udf(name)
            elif function.kind == pb.FUNCTION_AGGREGATE:
                self._ctx.deregister_udaf(name)
            else:
                self._ctx.deregister_udwf(name)

    def _use_buckets(self, buckets: set[str]) -> None:
        """Register the object stores of buckets not seen before (under the session lock)."""
        new = buckets - self._buckets
        if new:
            self.object_stores.register(self._ctx, new)
            self._buckets |= new

    def _set_target_partitions(self) -> None:
        target = self._settings.get("datafusion.execution.target_partitions")
        want = target or str(self._target_partitions())
        self._ctx.sql(f"SET datafusion.execution.target_partitions = {want}")

    def _stages(self, df: DataFrame) -> list[Stage] | None:
        try:
            plan = df.execution_plan()
        except Exception as exc:
            raise PlanningError(datafusion_message(exc)) from exc
        try:
            root = snapshot(plan, self._ctx)
        except Exception:
            log.debug("plan cannot be serialized; running it at the scheduler", exc_info=True)
            return None
        split = split_sink(root, placeholder)
        if split is None:
            if root.name == "DataSinkExec":  # e.g. INSERT INTO an in-memory table of this session
                return None
            stages = cut_stages(root, placeholder)
            if len(stages) > 1 and self._is_small(root):
                return one_stage(root)
            slice_tasks(stages, len(self.cluster.executors()))
            return stages
        sink, query = split
        stages = cut_stages(query, placeholder)
        stages[-1].output = ExchangeKind.WRITE
        stages[-1].sink = sink
        return stages

    def _is_small(self, root: PlanNode) -> bool:
        """Whether a query reads so little that one task on one executor beats distributing it."""
        if self.config.small_query_bytes <= 0:
            return False
        size = scanned_bytes(root)
        return size is not None and size < self.config.small_query_bytes

    def _collect_locally(self, df: DataFrame) -> pa.Table:
        try:
            return df.to_arrow_table()
        except Exception as exc:
            raise PlanningError(datafusion_message(exc)) from exc

    def _explain(self, job: Job, rest: str) -> Submitted:
        options, query = explain_options(rest)
        kind, _ = classify(query)
        if "analyze" in options and kind is not StatementKind.QUERY:
            msg = "EXPLAIN ANALYZE runs queries only"
            raise PlanningError(msg)
        return self._explain_dataframe(job, self.plan_sql(query), frozenset(options))

    def _explain_dataframe(self, job: Job, df: DataFrame, options: frozenset[str] = frozenset()) -> Submitted:
        """The distributed plan (``options``: ``analyze``, ``verbose``, ``format:graphviz``)."""
        stages = self._stages(df)
        if "analyze" in options:
            return self._analyze(job, df, stages, verbose="verbose" in options)
        if stages is not None and options & {"format:graphviz", "format:dot"}:
            # EXPLAIN FORMAT GRAPHVIZ (DataFusion's name for it) or FORMAT DOT: the stage graph only.
            return self._local(
                job, pa.table({"plan_type": ["distributed_plan_dot"], "plan": [to_dot(stages)]})
            )
        rows = [("logical_plan", df.optimized_logical_plan().display_indent())]
        if stages is None:
            rows.append(("physical_plan", df.execution_plan().display_indent()))
        else:
            rows.append(("distributed_plan", render(stages)))
            rows.append(("distributed_plan_dot", to_dot(stages)))
        table = pa.table(
            {"plan_type": [r[0] for r in rows], "plan": [r[1] for r in rows]},
        )
        return self._local(job, table)

    def _analyze(self, job: Job, df: DataFrame, stages: list[Stage] | None, verbose: bool) -> Submitted:
        """Run the query on the cluster, dropping its rows; answer its stages with their metrics."""
        if stages is None:
            msg = "EXPLAIN ANALYZE needs a plan the executors can run (this one reads scheduler-only tables)"
            raise PlanningError(msg)
        if stages[-1].output is not ExchangeKind.RESULT:
            msg = "EXPLAIN ANALYZE runs queries only, not COPY or INSERT"
            raise PlanningError(msg)
        job.stages = stages
        job.analyze = True
        job.result_schema = df.schema().serialize().to_pybytes()
        self.cluster.wait_for_executors(self.config.executor_wait_s)
        job.state = pb.JOB_RUNNING
        job.settings = self._task_settings()
        job.planned_s = time.monotonic() - job.created
        self._run_map_stages(job, with_final=True)
        job.map_stages_s = time.monotonic() - job.created - job.planned_s
        details = report.stage_reports(job)
        rows = [
            ("distributed_plan_analyzed", report.render_analyzed(job, details, verbose)),
            ("distributed_plan_metrics", report.to_json(details)),
            ("distributed_plan_dot", report.analyzed_dot(details)),
        ]
        table = pa.table({"plan_type": [r[0] for r in rows], "plan": [r[1] for r in rows]})
        return self._local(job, table)

    def _local(self, job: Job, table: pa.Table) -> Submitted:
        job.local_result = table
        job.state = pb.JOB_RESULTS_READY
        ticket = sign(
            pb.Ticket(result=pb.ResultTicket(job_id=job.job_id)), self.secret, self.config.result_ttl_s
        )
        return Submitted(job.job_id, table.schema, [Endpoint(ticket, None)], ordered=True)

    # -- running -----------------------------------------------------------------
    def _run(self, job: Job, schema: pa.Schema) -> Submitted:
        self.cluster.wait_for_executors(self.config.executor_wait_s)
        job.state = pb.JOB_RUNNING
        job.settings = self._task_settings()
        final = job.stages[-1]
        job.planned_s = time.monotonic() - job.created
        self._run_map_stages(job)
        job.client_gone = None  # GetFlightInfo answers now; from here on clients fetch endpoints
        job.map_stages_s = time.monotonic() - job.created - job.planned_s
        executors = self.cluster.executors()
        if not executors:
            msg = "all executors were lost while the query ran"
            raise ExecutorUnavailable(msg)
        endpoints = []
        result_schema = schema.serialize().to_pybytes()
        self._maybe_one_task(final, self._input_bytes(job, final))
        job.final_pending = set(range(final.tasks))
        job.stage_started[final.stage_id] = time.monotonic() - job.created
        for partition in range(final.tasks):
            executor = executors[next(self._rr) % len(executors)]
            task = self._task(job, final, partition)
            task.result_schema = result_schema
            ticket = sign(pb.Ticket(task=task), self.secret, self.config.result_ttl_s)
            job.executors_used.add(executor.executor_id)
            location = None if self.config.proxy_results else executor.uri
            endpoints.append(Endpoint(ticket, location))
        job.state = pb.JOB_RESULTS_READY
        if not endpoints:
            self._finish(job)
        ordered = final.root.name == "SortPreservingMergeExec" or final.tasks <= 1
        return Submitted(job.job_id, schema, endpoints, ordered=ordered)

    def _run_write(self, job: Job) -> Submitted:
        """Run every stage, the last one writing files; publish them; answer with the row count."""
        final = job.stages[-1]
        assert final.sink is not None
        job.write_dir = temporary_url(final.sink.url, job.job_id)
        self.cluster.wait_for_executors(self.config.executor_wait_s)
        job.state = pb.JOB_RUNNING
        job.settings = self._task_settings()
        job.planned_s = time.monotonic() - job.created
        try:
            self._run_map_stages(job, with_final=True)
            written = {s.partition: s for s in job.task_statuses if s.stage_id == final.stage_id}
            rows = sum(s.rows for s in written.values())
            self.storage.publish(
                [s.written_dir for s in written.values() if s.written_dir],
                final.sink.url,
                single_file=final.sink.single_file,
            )
        finally:
            self.storage.remove(job.write_dir)
        job.map_stages_s = time.monotonic() - job.created - job.planned_s
        return self._local(job, pa.table({"count": pa.array([rows], pa.uint64())}))

    def _task_settings(self) -> dict[str, str]:
        settings = dict(self._settings)
        settings["datafusion.execution.target_partitions"] = str(
            self._settings.get("datafusion.execution.target_partitions") or self._target_partitions()
        )
        return settings

    def _task(self, job: Job, stage: Stage, partition: int) -> pb.TaskTicket:
        task = pb.TaskTicket(
            job_id=job.job_id,
            stage_id=stage.stage_id,
            partition=partition,
            plan=stage.task_plan(partition),
            output=_KIND_TO_PB[stage.output],  # type: ignore[arg-type]
            analyze=job.analyze and stage.output is ExchangeKind.RESULT,
            result_schema=job.result_schema if stage.output is ExchangeKind.RESULT else b"",
            partitioner=stage.partitioner,
            output_placeholder=stage.output_placeholder,
            buckets=stage.buckets,
            whole_stage=stage.whole_stage,
            all_partitions=stage.single_task,
            stage_partitions=stage.partitions,
            run_partitions=stage.slices[partition]
            if stage.slices and stage.output is ExchangeKind.MERGE
            else [],
            settings=job.settings,
            scheduler_uri=self.uri,
        )
        plans = [task.plan, task.partitioner, *(inp.original for inp in stage.inputs)]
        if stage.sink is not None:
            plans.append(stage.sink.template)
        task.functions.extend(referenced(list(self._functions.values()), plans))
        task.object_stores.extend(sorted(set().union(*(buckets_in(p) for p in plans))))
        if stage.output is ExchangeKind.WRITE and stage.sink is not None:
            task.sink = stage.sink.template
            task.output_placeholder = stage.sink.placeholder
            task.sink_url = stage.sink.url
            task.write_dir = job.write_dir
            task.single_file = stage.sink.single_file
            if stage.whole_stage:
                task.sink_whole = stage.sink.whole
        for inp in stage.inputs:
            task.inputs.append(
                pb.ShuffleInput(
                    stage_id=inp.stage_id,
                    kind=_KIND_TO_PB[inp.kind],  # type: ignore[arg-type]
                    partitions=inp.partitions,
                    placeholder=inp.placeholder,
                    read_partitions=stage.reads_of(partition, inp.stage_id),
                    locations=job.outputs[inp.stage_id],
                    original=inp.original,
                    schema=job.schemas.get(inp.stage_id, b""),
                )
            )
        return task

    def _run_map_stages(
        self, job: Job, *, with_final: bool = False, missing: dict[int, set[int]] | None = None
    ) -> None:
        """Run every stage but the last (or all of them), retrying failed tasks.

        A stage runs once all its inputs are complete. A task that fails is retried,
        on another executor when there is one, up to ``task_attempts`` times. When the
        failure is a lost executor (its own, or one holding its input), the outputs
        that lived there are recomputed first, by re-running only the map tasks that
        produced them.
        """
        stages = {s.stage_id: s for s in (job.stages if with_final else job.stages[:-1])}
        job.depths = job.depths or stage_depths(job.stages)
        # stage -> tasks whose output is not (or no longer) there; given when resuming a job
        missing = {} if missing is None else missing
        running: dict[Future[pb.TaskStatus], Attempt] = {}
        attempts: dict[tuple[int, int], int] = {}
        failed_on: dict[tuple[int, int], set[str]] = {}  # executors a task failed on
        last_error: dict[tuple[int, int], str] = {}
        started: dict[int, float] = {}

        def complete(stage_id: int) -> bool:
            return stage_id in missing and not missing[stage_id]

        try:
            while True:
                for stage_id, stage in stages.items():
                    if complete(stage_id) or not all(complete(i.stage_id) for i in stage.inputs):
                        continue
                    if stage_id not in missing:
                        size = self._input_bytes(job, stage)
                        if self._fused_into_final(job, stage, size):
                            missing[stage_id] = set()  # nothing to run: the final stage runs it
                            continue
                        self._maybe_one_task(stage, size)
                        missing[stage_id] = set(range(stage.tasks))
                        started[stage_id] = job.stage_started[stage_id] = time.monotonic() - job.created
                        job.outputs[stage_id] = [
                            pb.MapOutputLocation(map_partition=p, empty=True) for p in range(stage.outputs)
                        ]
                    in_flight = {a.task for a in running.values() if a.stage.stage_id == stage_id}
                    for task in sorted(missing[stage_id] - in_flight):
                        key = (stage_id, task)
                        tries = attempts[key] = attempts.get(key, 0) + 1
                        if tries > self.config.task_attempts:
                            raise TaskFailed(
                                exhausted_message(stage_id, task, tries - 1, last_error.get(key))
                            )
                        # The ticket is built now, while the inputs are complete: by the time a
                        # slot frees up, a lost executor may have emptied their locations.
                        ticket = self._task(job, stage, task)
                        ticket.attempt = tries
                        attempt = Attempt(stage, task, avoid=failed_on.get(key, set()))
                        running[self._pool.submit(self._run_task, job, ticket, attempt)] = attempt
                if not running:
                    if all(complete(stage_id) for stage_id in stages):
                        return
                    msg = "internal error: stages wait on each other"
                    raise TaskFailed(msg)
                done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                if job.cancelled.is_set() or (job.client_gone is not None and job.client_gone()):
                    msg = f"job {job.job_id} was cancelled"
                    raise JobCancelled(msg)
                for future in done:
                    attempt = running.pop(future)
                    stage, task = attempt.stage, attempt.task
                    try:
                        status = future.result()
                        uri = self._uri_of(status.executor_id)
                    except (ExecutorUnavailable, TaskFailed) as exc:
                        job.failed_tasks.append(
                            pb.TaskStatus(
                                job_id=job.job_id,
                                stage_id=stage.stage_id,
                                partition=task,
                                executor_id=attempt.executor_id or "",
                                error=str(exc),
                                attempt=attempts.get((stage.stage_id, task), 1),
                                end_s=time.monotonic() - job.created,
                            )
                        )
                        if not self.cluster.executors():
                            raise  # nothing left to retry on: fail now, clearly
                        key = (stage.stage_id, task)
                        job.error = last_error[key] = str(exc)
                        if attempt.executor_id:
                            failed_on.setdefault(key, set()).add(attempt.executor_id)
                        lost = self._lost_executors(job, exc)
                        if lost:
                            log.warning(
                                "job %s: executors %s lost; retrying %s", job.job_id, sorted(lost), exc
                            )
                            self._forget_outputs(job, stages, missing, lost)
                        else:
                            log.warning("job %s: retrying a failed task: %s", job.job_id, exc)
                        continue
                    self._record(job, stage, task, status, uri)
                    missing[stage.stage_id].discard(task)
                    if not missing[stage.stage_id]:
                        job.stage_times[stage.stage_id] = (
                            started.get(stage.stage_id, 0.0),
                            time.monotonic() - job.created,
                        )
        except BaseException:
            job.cancelled.set()
            for future in running:
                future.cancel()
            if job.write_dir:  # let running writers finish before their files are removed
                wait(running, timeout=WRITE_DRAIN_S)
            raise

    @staticmethod
    def _input_bytes(job: Job, stage: Stage) -> int:
        inputs = {inp.stage_id for inp in stage.inputs}
        return sum(s.bytes for s in job.task_statuses if s.stage_id in inputs)

    def _maybe_one_task(self, stage: Stage, input_bytes: int) -> None:
        """Run ``stage`` as one task if its (complete) inputs turned out tiny."""
        if runs_as_one_task(stage, input_bytes, self.config.tiny_stage_bytes):
            stage.run_as_one_task()

    def _fused_into_final(self, job: Job, stage: Stage, size: int) -> bool:
        """Whether ``stage`` (its inputs complete, ``size`` bytes) now runs inside the final stage."""
        final = job.stages[-1]
        if stage is final or not fuses_into(stage, final, size, self.config.tiny_stage_bytes):
            return False
        fuse(stage, final)
        job.stages = [s for s in job.stages if s is not stage]
        log.debug(
            "job %s: stage %d (%d input bytes) runs in the final stage", job.job_id, stage.stage_id, size
        )
        return True

    def _record(self, job: Job, stage: Stage, task: int, status: pb.TaskStatus, uri: str) -> None:
        if stage.single_task:
            produced = dict(enumerate(status.map_rows))
        else:
            produced = {task: 0 if status.empty else 1}
        for map_partition, rows in produced.items():
            job.outputs[stage.stage_id][map_partition].CopyFrom(
                pb.MapOutputLocation(
                    map_partition=map_partition, executor_id=status.executor_id, uri=uri, empty=rows == 0
                )
            )
        if status.schema and stage.stage_id not in job.schemas:
            job.schemas[stage.stage_id] = status.schema
        if stage.output is ExchangeKind.RESULT:
            job.result_tasks.append(status)
        else:
            job.task_statuses.append(status)
        if stage.output in (ExchangeKind.REPARTITION, ExchangeKind.MERGE):
            self.stats.shuffle_rows += status.rows
        job.tasks_done[stage.stage_id] = job.tasks_done.get(stage.stage_id, 0) + 1
        self.stats.add_task(status)

    def _lost_executors(self, job: Job, exc: BaseException) -> set[str]:
        """Executors involved in ``job`` that no longer answer (and are forgotten)."""
        known = {e.executor_id: e for e in self.cluster.executors()}
        if not known:
            return set()  # nothing left to retry on: fail now, clearly
        involved = {loc.executor_id for locs in job.outputs.values() for loc in locs if loc.executor_id}
        lost = {e for e in involved if e not in known}
        for executor_id in involved - lost:
            try:
                options = flight.FlightCallOptions(timeout=2.0)
                list(self._clients.get(known[executor_id].uri).do_action("stats", options))
            except flight.FlightError:
                self._clients.drop(known[executor_id].uri)
                self.cluster.remove(executor_id)
                lost.add(executor_id)
        # A task that started before an earlier loss may still fail on it.
        lost |= {e for e in job.lost_executors if e in str(exc)}
        if isinstance(exc, ExecutorUnavailable) and not lost:
            # The task's own executor was unreachable (already forgotten by _call).
            lost.add("?")
        job.lost_executors |= lost
        return lost

    @staticmethod
    def _forget_outputs(
        job: Job, stages: dict[int, Stage], missing: dict[int, set[int]], lost: set[str]
    ) -> None:
        """Mark outputs held by lost executors as missing, so their map tasks run again."""
        for stage_id, locations in job.outputs.items():
            stage = stages.get(stage_id)
            if stage is None:
                continue
            for loc in locations:
                if loc.executor_id in lost and not loc.empty:
                    missing[stage_id].add(0 if stage.single_task else loc.map_partition)
                    loc.CopyFrom(pb.MapOutputLocation(map_partition=loc.map_partition, empty=True))
            if stage.single_task and 0 in missing[stage_id]:
                for loc in locations:
                    loc.CopyFrom(pb.MapOutputLocation(map_partition=loc.map_partition, empty=True))

    def peer(self, uri: str) -> flight.FlightClient:
        """The shared Flight client for an executor."""
        return self._clients.get(uri)

    def _uri_of(self, executor_id: str) -> str:
        for info in self.cluster.executors():
            if info.executor_id == executor_id:
                return info.uri
        msg = f"executor {executor_id} was lost"
        raise ExecutorUnavailable(msg)

    def _run_task(self, job: Job, task: pb.TaskTicket, attempt: Attempt) -> pb.TaskStatus:
        if job.cancelled.is_set():
            msg = "job cancelled"
            raise TaskFailed(msg)
        with job_context(job.job_id):
            # Older jobs first; in a job, stages further from the result first, then in plan order.
            priority = (job.created, -job.depths.get(task.stage_id, 0), task.stage_id, task.partition)
            info = self.cluster.acquire(self.config.executor_wait_s, avoid=attempt.avoid, priority=priority)
            attempt.executor_id = info.executor_id
            try:
                if job.cancelled.is_set():
                    msg = "job cancelled"
                    raise TaskFailed(msg)
                job.executors_used.add(info.executor_id)
                started = time.monotonic() - job.created
                status = self._call(info, job, task)
                status.start_s = started
                status.end_s = time.monotonic() - job.created
                status.attempt = task.attempt
                return status
            finally:
                self.cluster.release(info)

    def _call(self, info: ExecutorInfo, job: Job, task: pb.TaskTicket) -> pb.TaskStatus:
        ticket = sign(pb.Ticket(task=task), self.secret, self.config.result_ttl_s)
        where = f"stage {task.stage_id} task {task.partition} on executor {info.executor_id}"
        try:
            table = self._clients.get(info.uri).do_get(flight.Ticket(ticket)).read_all()
        except flight.FlightUnavailableError as exc:
            self._clients.drop(info.uri)
            self.cluster.remove(info.executor_id)
            msg = f"{where}: executor unreachable at {info.uri}"
            raise ExecutorUnavailable(msg) from exc
        except flight.FlightError as exc:
            msg = f"{where} failed: {flight_message(exc)}"
            raise TaskFailed(msg) from exc
        status = pb.TaskStatus()
        status.ParseFromString(table.column(0)[0].as_py())
        status.attempt = task.attempt
        return status

    # -- results -----------------------------------------------------------------
    def run_result(self, raw: bytes, task: pb.TaskTicket) -> pa.RecordBatchReader:
        """Run a final-stage task on a live executor for a client; recover lost inputs.

        This is where a result whose executor (or whose inputs' executor) was lost is
        saved: a client that fails to fetch an endpoint at its location asks the
        scheduler with the same ticket. Until the first batch arrives, a failure caused
        by a lost executor makes the scheduler re-run the lost map tasks and try again
        elsewhere (up to ``task_attempts``). Once rows flow, a failure goes to the client,
        which re-fetches the endpoint (its partial rows are not part of a result).
        """
        job = self.job(task.job_id)
        self.check_ticket_job(task.job_id)
        ticket, avoid, error = flight.Ticket(raw), set[str](), ""
        for attempt in range(self.config.task_attempts):
            executors = [e for e in self.cluster.executors() if e.executor_id not in avoid]
            executors = executors or self.cluster.executors()
            if not executors:
                msg = "no executors registered to run the result task"
                raise ExecutorUnavailable(msg)
            info = executors[next(self._rr) % len(executors)]
            where = f"stage {task.stage_id} task {task.partition} on executor {info.executor_id}"
            try:
                reader = self._clients.get(info.uri).do_get(ticket)
                reader.schema  # noqa: B018 - waits for the task to start streaming, or fail
                return reader.to_reader()
            except flight.FlightUnauthorizedError:
                raise  # a finished or cancelled job: nothing to retry
            except flight.FlightError as exc:
                error = f"{where} failed: {flight_message(exc)}"
                lost = set()
                if isinstance(exc, flight.FlightUnavailableError):  # the task's own executor
                    self._clients.drop(info.uri)
                    self.cluster.remove(info.executor_id)
                    lost.add(info.executor_id)
                if self.cluster.executors():
                    lost |= self._lost_executors(job, exc)
                if not lost:
                    raise TaskFailed(error) from exc
                avoid |= lost | {info.executor_id}
                log.warning("job %s: result task lost executors %s; recomputing", job.job_id, sorted(lost))
                task = self._recover(job, task, lost, attempt + 2)  # attempts count from 1
                ticket = flight.Ticket(sign(pb.Ticket(task=task), self.secret, self.config.result_ttl_s))
        raise TaskFailed(exhausted_message(task.stage_id, task.partition, self.config.task_attempts, error))

    def _recover(self, job: Job, task: pb.TaskTicket, lost: set[str], attempt: int) -> pb.TaskTicket:
        """Re-run the map tasks whose output died with ``lost``; a fresh ticket for ``task``."""
        stages = {s.stage_id: s for s in job.stages[:-1]}
        with job.recovering:  # several result tasks may notice the same loss at once
            missing: dict[int, set[int]] = {stage_id: set() for stage_id in stages}
            self._forget_outputs(job, stages, missing, lost | job.lost_executors)
            try:
                self._run_map_stages(job, missing=missing)
            except BaseException as exc:
                self._fail(job, exc)  # the result cannot be completed: release what is left
                raise
        fresh = self._task(job, job.stages[-1], task.partition)
        fresh.result_schema = task.result_schema
        fresh.attempt = attempt
        return fresh

    def local_result(self, job_id: str) -> pa.Table:
        """The result computed at the scheduler for ``job_id`` (once)."""
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None or job.local_result is None:
            msg = f"job {job_id} is unknown or has finished; its result was already fetched"
            raise TicketError(msg)
        table, job.local_result = job.local_result, None
        self._finish(job)
        return table

    def result_done(self, status: pb.TaskStatus) -> None:
        """An executor finished streaming one final partition."""
        with self._jobs_lock:
            job = self._jobs.get(status.job_id)
        if job is None or job.state != pb.JOB_RESULTS_READY:
            return
        if status.partition in job.final_pending:
            status.end_s = time.monotonic() - job.created
            status.start_s = max(job.planned_s + job.map_stages_s, status.end_s - status.elapsed_s)
            job.result_tasks.append(status)
            job.tasks_done[status.stage_id] = job.tasks_done.get(status.stage_id, 0) + 1
            self.stats.add_task(status)
        job.final_pending.discard(status.partition)
        if not job.final_pending:
            self._finish(job)

    def check_ticket_job(self, job_id: str) -> None:
        """Refuse a ticket whose job is over."""
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None or job.state in (pb.JOB_SUCCEEDED, pb.JOB_FAILED, pb.JOB_CANCELLED):
            msg = f"job {job_id} is unknown or has finished"
            raise TicketError(msg)

    def _finish(self, job: Job) -> None:
        if job.state == pb.JOB_SUCCEEDED:
            return
        job.state = pb.JOB_SUCCEEDED
        job.finished = time.monotonic()
        self._count_finished(job)
        with job_context(job.job_id):
            log.info("job %s succeeded in %.3fs", job.job_id, job.finished - job.created)
        self._release(job)

    def cancel(self, job_id: str) -> pb.JobStatus:
        """Stop a job: no further tasks, its shuffle data released, its tickets refused."""
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            msg = f"unknown job {job_id}"
            raise KeyError(msg)
        job.cancelled.set()
        # A running job's stage loop notices within a fraction of a second; wait for it,
        # so that the answer says CANCELLED and the release below comes after its last task.
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while job.state == pb.JOB_RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)
        if job.state in (pb.JOB_QUEUED, pb.JOB_RESULTS_READY):
            self._fail(job, JobCancelled(f"job {job_id} was cancelled"))
        if job.state == pb.JOB_CANCELLED:
            # Once cancel_job answers, executors refuse the job's tickets.
            self._release(job, wait_s=CALL_TIMEOUT_S)
        return job.status()

    def job(self, job_id: str) -> Job:
        """The job ``job_id``."""
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            msg = f"unknown job {job_id}"
            raise KeyError(msg)
        return job

    def _fail(self, job: Job, exc: BaseException) -> None:
        if job.state in (pb.JOB_FAILED, pb.JOB_CANCELLED, pb.JOB_SUCCEEDED):
            return
        job.state = pb.JOB_CANCELLED if isinstance(exc, JobCancelled) else pb.JOB_FAILED
        job.error = str(exc)
        job.finished = time.monotonic()
        job.cancelled.set()
        self._count_finished(job)
        with job_context(job.job_id):
            log.info("job %s failed: %s", job.job_id, exc)
        self._release(job)

    def _count_finished(self, job: Job) -> None:
        name = report.state_name(job.state)
        self.stats.jobs_finished[name] = self.stats.jobs_finished.get(name, 0) + 1

    def _release(self, job: Job, wait_s: float = 0.0) -> None:
        """Tell the executors to drop the job's data (waiting up to ``wait_s`` for them)."""
        job.local_result = None
        executors = {e.executor_id: e.uri for e in self.cluster.executors()}
        targets = [executors[e] for e in job.executors_used if e in executors]
        futures = [self._release_pool.submit(self._release_on, uri, job.job_id) for uri in targets]
        if wait_s > 0:
            wait(futures, timeout=wait_s)

    def _release_on(self, uri: str, job_id: str) -> None:
        body = pb.ReleaseJob(job_id=job_id).SerializeToString()
        try:
            options = flight.FlightCallOptions(timeout=CALL_TIMEOUT_S)
            list(self._clients.get(uri).do_action(("release_job", body), options))
        except flight.FlightError as exc:
            with job_context(job_id):
                log.warning("could not release job %s on %s: %s", job_id, uri, exc)

    def expire(self) -> None:
        """Drop results nobody fetched within the TTL, and old finished jobs."""
        now = time.monotonic()
        with self._jobs_lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.state == pb.JOB_RESULTS_READY and now - job.created > self.config.result_ttl_s:
                with job_context(job.job_id):
                    log.info(
                        "job %s: results not fetched within %.0fs; releasing",
                        job.job_id,
                        self.config.result_ttl_s,
                    )
                self._finish(job)
        with self._jobs_lock:
            finished = sorted(
                (j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished or 0
            )
            for job in finished[: max(0, len(finished) - self.config.job_history)]:
                del self._jobs[job.job_id]

    def jobs(self) -> list[Job]:
        """All tracked jobs."""
        with self._jobs_lock:
            return list(self._jobs.values())

    def close(self) -> None:
        """Stop worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._release_pool.shutdown(wait=True)
        self._clients.close()
