"""The scheduler: a Flight server that answers clients with the standard Flight flow.

``GetFlightInfo(FlightDescriptor.for_command(<UTF-8 SQL>))`` plans and runs the
statement up to its final stage and answers with endpoints; ``DoGet`` of an
endpoint's ticket streams that piece. Executors register and heartbeat with
``DoAction``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from typing import TYPE_CHECKING

import pyarrow as pa
from google.protobuf.json_format import MessageToDict
from pyarrow import flight

from ballista_flight import commands
from ballista_flight.errors import (
    PlanningError,
    TicketError,
    Unsupported,
    flight_errors,
    keep_tracebacks_from_clients,
)
from ballista_flight.http import HealthServer
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.proto import flight_actions_pb2 as actions_pb
from ballista_flight.proto import flight_sql_pb2 as sql_pb
from ballista_flight.scheduler import flightsql as fsql
from ballista_flight.scheduler import report, webui
from ballista_flight.scheduler.cluster import Cluster
from ballista_flight.scheduler.flightsql_handler import FLIGHT_SQL_ACTIONS, FlightSqlHandler
from ballista_flight.scheduler.jobs import JobManager, Submitted
from ballista_flight.scheduler.metrics import scheduler_metrics
from ballista_flight.scheduler.progress import MIDDLEWARE_KEY, JobIdMiddlewareFactory, requested_job_id
from ballista_flight.scheduler.statements import StatementKind, classify
from ballista_flight.security import scheme, server_options
from ballista_flight.tickets import verify

if TYPE_CHECKING:
    from collections.abc import Iterator

    from google.protobuf.message import Message
    from prometheus_client.metrics_core import Metric

    from ballista_flight.config import SchedulerConfig

log = logging.getLogger("ballista_flight.scheduler")


def _ticket_bytes(raw: bytes) -> bytes:
    """Our signed ticket, unwrapped from Flight SQL's TicketStatementQuery when wrapped."""
    message = fsql.unpack(raw)
    if isinstance(message, sql_pb.TicketStatementQuery):
        return bytes(message.statement_handle)
    return raw


def _command_of(descriptor: flight.FlightDescriptor) -> str | Message:
    """Plain UTF-8 SQL, or a decoded Flight SQL command."""
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        msg = "expected a command descriptor holding UTF-8 SQL (FlightDescriptor.for_command)"
        raise PlanningError(msg)
    message = fsql.unpack(descriptor.command)
    if message is not None:
        return message
    return commands.parse(descriptor.command)  # UTF-8 SQL, or ballista-flight's own commands


class SchedulerServer(flight.FlightServerBase):
    """Plans queries, schedules their tasks and hands clients the result endpoints."""

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        keep_tracebacks_from_clients()
        options = server_options(config, config.auth_users)
        # Our middleware beside auth's: it reads the job id a client chose (x-ballista-job-id).
        auth = options.get("middleware", {}).get("auth")
        options["middleware"] = {**options.get("middleware", {}), MIDDLEWARE_KEY: JobIdMiddlewareFactory()}
        # Everything an RPC touches exists before the server starts: it answers calls (executors
        # registering) from inside FlightServerBase.__init__ on.
        secret = config.cluster_secret.encode() if config.cluster_secret else secrets.token_bytes(32)
        self.cluster = Cluster(config.heartbeat_timeout_s)
        self.jobs = JobManager(config, self.cluster, secret, "")
        self._secret = secret
        self.flight_sql = FlightSqlHandler(self.jobs, self._fetch)
        self._stopping = threading.Event()
        super().__init__(f"{scheme(config)}://{config.host}:{config.port}", **options)
        self.uri = f"{scheme(config)}://{config.advertise_host or config.host}:{self.port}"
        self.jobs.uri = self.uri  # known once the port is bound (port 0 picks one)
        self._sweeper = threading.Thread(target=self._sweep, daemon=True, name="sweeper")
        self._sweeper.start()
        self.http: HealthServer | None = None
        if config.http_port >= 0:
            self.http = HealthServer(
                config.host,
                config.http_port,
                lambda: bool(self.cluster.executors()),
                self._metrics,
                # The web page asks for the same credentials as Flight clients.
                routes=webui.routes(self.jobs, self.cluster, getattr(auth, "authenticator", None)),
            )

    def _metrics(self) -> Iterator[Metric]:
        return scheduler_metrics(self.jobs, self.cluster)

    def _sweep(self) -> None:
        while not self._stopping.wait(1.0):
            try:
                self.cluster.reap()
                self.jobs.expire()
            except Exception:
                log.exception("sweeper failed")

    def stop(self) -> None:
        """Stop serving."""
        if self.http is not None:
            self.http.stop()
        self._stopping.set()
        self.shutdown()
        self.jobs.close()

    # -- client flow -----------------------------------------------------------
    def _flight_info(
        self, descriptor: flight.FlightDescriptor, submitted: Submitted, flight_sql: bool
    ) -> flight.FlightInfo:
        endpoints = []
        for e in submitted.endpoints:
            ticket = e.ticket
            if flight_sql and not e.location:  # fetched here: the Flight SQL ticket form
                ticket = fsql.pack(sql_pb.TicketStatementQuery(statement_handle=ticket))
            endpoints.append(flight.FlightEndpoint(ticket, [e.location] if e.location else []))
        return flight.FlightInfo(
            submitted.schema,
            descriptor,
            endpoints,
            total_records=-1,
            total_bytes=-1,
            ordered=submitted.ordered,
            app_metadata=submitted.job_id.encode(),
        )

    @flight_errors
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        command = _command_of(descriptor)
        if isinstance(command, str):
            submitted = self.jobs.submit(
                command, client_gone=context.is_cancelled, job_id=requested_job_id(context)
            )
            return self._flight_info(descriptor, submitted, flight_sql=False)
        if isinstance(command, pb.SubstraitPlanCommand):
            submitted = self.jobs.submit_substrait(
                command.plan,
                client_gone=context.is_cancelled,
                explain=command.explain,
                copy=command.copy if command.HasField("copy") else None,
            )
            return self._flight_info(descriptor, submitted, flight_sql=False)
        submitted = self.flight_sql.submit(
            command, client_gone=context.is_cancelled, job_id=requested_job_id(context)
        )
        return self._flight_info(descriptor, submitted, flight_sql=True)

    @flight_errors
    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        command = _command_of(descriptor)
        if not isinstance(command, str):
            if isinstance(command, pb.SubstraitPlanCommand):
                return flight.SchemaResult(self.jobs.plan_substrait(command.plan).schema())
            return flight.SchemaResult(self.flight_sql.schema(command))
        kind, text = classify(command)
        if kind is not StatementKind.QUERY:
            msg = "GetSchema answers queries only"
            raise PlanningError(msg)
        return flight.SchemaResult(self.jobs.plan_sql(text).schema())

    @flight_errors
    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        command = _command_of(descriptor)
        if isinstance(command, str):
            msg = "DoPut takes Flight SQL commands only (updates, parameters)"
            raise Unsupported(msg)
        writer.write(self.flight_sql.do_put(command, reader))

    @flight_errors
    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        return flight.RecordBatchStream(self._result_reader(_ticket_bytes(ticket.ticket)))

    def _result_reader(self, raw: bytes) -> pa.Table | pa.RecordBatchReader:
        parsed = verify(raw, self._secret)
        kind = parsed.WhichOneof("kind")
        if kind == "result":
            return self.jobs.local_result(parsed.result.job_id)
        if kind == "task" and parsed.task.output == pb.OUTPUT_RESULT:
            self.jobs.check_ticket_job(parsed.task.job_id)
            return self._proxy_result(flight.Ticket(raw), parsed.task)
        msg = f"ticket of kind {kind!r} is not served by the scheduler"
        raise TicketError(msg)

    def _fetch(self, ticket: bytes, location: str | None) -> pa.Table:
        """A whole result piece, read by the scheduler itself (update counts)."""
        if location:
            return self.jobs.peer(location).do_get(flight.Ticket(ticket)).read_all()
        reader = self._result_reader(ticket)
        return reader if isinstance(reader, pa.Table) else reader.read_all()

    def _proxy_result(self, ticket: flight.Ticket, task: pb.TaskTicket) -> pa.RecordBatchReader:
        """Run a final-stage task on an executor and relay its rows (recovering lost inputs)."""
        return self.jobs.run_result(ticket.ticket, task)

    def _cancel_query(self, job_id: str) -> int:
        job = self.jobs.job(job_id)
        if job.state in (pb.JOB_SUCCEEDED, pb.JOB_FAILED, pb.JOB_CANCELLED):
            return actions_pb.CANCEL_STATUS_NOT_CANCELLABLE
        self.jobs.cancel(job_id)
        return actions_pb.CANCEL_STATUS_CANCELLED

    @flight_errors
    def list_flights(self, context: flight.ServerCallContext, criteria: bytes) -> Iterator[flight.FlightInfo]:
        return iter([])

    # -- actions ---------------------------------------------------------------
    @flight_errors
    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[bytes]:
        body = action.body.to_pybytes() if action.body is not None else b""
        answer = self.flight_sql.action(action.type, body, self._cancel_query)
        if answer is not None:
            return iter(answer)
        if action.type == "register_executor":
            reg = pb.ExecutorRegistration()
            reg.ParseFromString(body)
            self.cluster.register(reg)
            # With auth on, executors hold the secret already (they authenticated with it).
            secret = b"" if self.config.auth_enabled else self._secret
            response = pb.RegistrationResponse(cluster_secret=secret, heartbeat_interval_ms=2000)
            return iter([response.SerializeToString()])
        if action.type == "heartbeat":
            beat = pb.Heartbeat()
            beat.ParseFromString(body)
            known = self.cluster.heartbeat(beat)
            return iter([pb.HeartbeatResponse(known=known).SerializeToString()])
        if action.type == "deregister_executor":
            self.cluster.remove(body.decode())
            return iter([b""])
        if action.type == "result_done":
            status = pb.TaskStatus()
            status.ParseFromString(body)
            self.jobs.result_done(status)
            return iter([b""])
        if action.type == "register_function":
            function = pb.UserFunction()
            function.ParseFromString(body)
            self.jobs.register_function(function)
            return iter([b""])
        if action.type == "deregister_function":
            self.jobs.deregister_function(body.decode())
            return iter([b""])
        if action.type == "list_executors":
            executors = [
                {"executor_id": e.executor_id, "uri": e.uri, "slots": e.slots, "free": e.free,
                 "tasks_done": e.tasks_done, "shuffle": e.shuffle_mode}
                for e in self.cluster.executors()
            ]  # fmt: skip
            return iter([json.dumps(executors).encode()])
        if action.type in ("job_status", "cancel_job"):
            job_id = body.decode()
            status = (
                self.jobs.cancel(job_id) if action.type == "cancel_job" else self.jobs.job(job_id).status()
            )
            return iter([json.dumps(MessageToDict(status)).encode()])
        if action.type == "job_profile":
            job = self.jobs.job(body.decode())
            profile = {
                "planned_s": job.planned_s,
                "map_stages_s": job.map_stages_s,
                "stages": {str(k): {"start_s": a, "end_s": b} for k, (a, b) in job.stage_times.items()},
                "tasks": [MessageToDict(t) for t in job.task_statuses],
            }
            return iter([json.dumps(profile).encode()])
        if action.type == "job_detail":
            detail = report.job_detail(self.jobs.job(body.decode()))
            return iter([json.dumps(detail).encode()])
        if action.type == "list_jobs":
            jobs = [MessageToDict(j.status()) for j in self.jobs.jobs()]
            return iter([json.dumps(jobs).encode()])
        msg = f"unknown action {action.type!r} (ListActions lists the supported ones)"
        raise Unsupported(msg)

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [
            ("register_executor", "An executor joins the cluster (executors only)."),
            ("heartbeat", "An executor is alive (executors only)."),
            ("deregister_executor", "An executor is shutting down (executors only)."),
            ("result_done", "An executor finished streaming a result partition."),
            ("register_function", "Register a Python UDF (body: UserFunction) for this session's queries."),
            ("deregister_function", "Forget a Python UDF (body: its name)."),
            ("list_executors", "JSON list of registered executors."),
            ("list_jobs", "JSON list of recent jobs and their states."),
            ("job_profile", "JSON timings of a job: planning, stages, every task's phases."),
            ("job_status", "JSON state of a job (body: job id)."),
            ("job_detail", "JSON of a job: stages with metrics, every task attempt (body: job id)."),
            ("cancel_job", "Cancel a job (body: job id): no more tasks, shuffle data released."),
            *FLIGHT_SQL_ACTIONS,
        ]
