"""The executor: a Flight server that runs tasks and serves shuffle partitions.

DoGet of a task ticket runs the task (the scheduler waits on that call for a
map task's status; a client reading a final-stage endpoint gets the rows).
DoGet of a fetch ticket streams one shuffle partition. Membership (register,
heartbeat) and the TTL sweep of forgotten jobs run in a background thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pyarrow as pa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pyarrow import flight

from ballista_flight import objectstore
from ballista_flight._version import DATAFUSION_VERSION, __version__
from ballista_flight.errors import (
    ExecutorUnavailable,
    ShuffleError,
    TicketError,
    Unsupported,
    flight_errors,
    flight_message,
    keep_tracebacks_from_clients,
    to_flight_error,
)
from ballista_flight.executor.faults import injector
from ballista_flight.executor.inputs import FETCH_OPTIONS, InputBudget
from ballista_flight.executor.task import (
    Source,
    TaskInputs,
    Worker,
    run_analyze_task,
    run_result_task,
    run_shuffle_task,
)
from ballista_flight.http import HealthServer
from ballista_flight.logging_setup import job_context
from ballista_flight.objectstore import S3Settings
from ballista_flight.peers import ClientPool
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.proto import flight_actions_pb2 as actions_pb
from ballista_flight.security import internal_credentials, scheme, server_options
from ballista_flight.shuffle.framing import aligned_stream, generated_stream
from ballista_flight.shuffle.store import PartitionKey, ShuffleStore
from ballista_flight.tickets import sign, verify

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from ballista_flight.config import ExecutorConfig

log = logging.getLogger("ballista_flight.executor")

STATUS_SCHEMA = pa.schema([pa.field("task_status", pa.binary())])
FETCH_TICKET_TTL_S = 600.0
CALL_TIMEOUT_S = 10.0


class ExecutorServer(flight.FlightServerBase):
    """Runs tasks with DataFusion and serves their shuffle output over Flight."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self.executor_id = config.resolved_id()
        objectstore.configure(S3Settings.from_config(config))
        keep_tracebacks_from_clients()
        # Everything an RPC touches exists before the server starts answering calls, which it
        # does from inside FlightServerBase.__init__ on.
        self._credentials = internal_credentials(config)
        work_dir = config.work_dir / self.executor_id
        limit = config.memory_limit if config.shuffle.value == "memory" else 0
        self.store = ShuffleStore(work_dir, limit)
        self.worker = Worker(
            self.executor_id,
            config.task_memory_limit,
            work_dir / "spill",
            InputBudget(config.input_memory_limit),
            work_dir / "inputs",
        )
        if config.task_memory_limit:
            self.worker.spill_dir.mkdir(parents=True, exist_ok=True)
        self.worker.land_dir.mkdir(parents=True, exist_ok=True)
        self._secret: bytes | None = config.cluster_secret.encode() or None
        self._registered = threading.Event()
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._slots = threading.BoundedSemaphore(config.slots)
        self._running = 0
        self._running_lock = threading.Lock()
        self._peers = ClientPool(self._credentials)
        self._fetch_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fetch")
        self._membership = threading.Thread(target=self._membership_loop, daemon=True)
        self.tasks_run = 0
        self.fetches_served = 0
        self.bytes_fetched_remote = 0
        self.faults = injector(config.fault_injection, self.executor_id)  # tests only; None by default
        super().__init__(f"{scheme(config)}://{config.host}:{config.port}", **server_options(config))
        self.uri = f"{scheme(config)}://{config.advertise_host or config.host}:{self.port}"
        self.http: HealthServer | None = None
        if config.http_port >= 0:
            self.http = HealthServer(config.host, config.http_port, self.ready, self._metrics)

    # -- lifecycle -----------------------------------------------------------
    def ready(self) -> bool:
        """Registered and not draining: what /readyz reports, so a Service stops routing here on SIGTERM."""
        return self._registered.is_set() and not self._draining.is_set()

    def start(self) -> None:
        """Register with the scheduler and keep heartbeating in the background."""
        self._membership.start()

    def stop(self, grace_s: float | None = None) -> None:
        """Drain, then stop serving and drop all shuffle data.

        New tasks are refused (the scheduler retries them elsewhere) and the scheduler
        is told to forget this executor; running tasks get ``grace_s`` to finish while
        shuffle fetches are still served.
        """
        grace = self.config.shutdown_grace_s if grace_s is None else grace_s
        self._draining.set()
        self._deregister()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._running_lock:
                if self._running == 0:
                    break
            time.sleep(0.05)
        else:
            log.warning(
                "executor %s: tasks still running after %.0fs; stopping anyway", self.executor_id, grace
            )
        self._stopping.set()
        self.shutdown()
        if self.http is not None:
            self.http.stop()
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)
        self._peers.close()
        self.store.close()

    def _metrics(self) -> Iterator[Metric]:
        store = self.store
        yield GaugeMetricFamily(
            "ballista_flight_shuffle_memory_bytes", "Shuffle bytes held in memory.", value=store.memory_bytes
        )
        yield GaugeMetricFamily(
            "ballista_flight_shuffle_disk_bytes", "Shuffle bytes held on disk.", value=store.disk_bytes
        )
        yield CounterMetricFamily(
            "ballista_flight_shuffle_spilled_bytes", "Shuffle bytes spilled past the memory limit.",
            value=store.spilled_bytes,
        )  # fmt: skip
        yield CounterMetricFamily("ballista_flight_tasks_run", "Tasks run.", value=self.tasks_run)
        yield CounterMetricFamily(
            "ballista_flight_shuffle_fetches_served",
            "Shuffle partitions served to peers.",
            value=self.fetches_served,
        )
        yield CounterMetricFamily(
            "ballista_flight_shuffle_remote_read_bytes",
            "Shuffle bytes this executor fetched from peers.",
            value=self.bytes_fetched_remote,
        )
        yield GaugeMetricFamily("ballista_flight_running_tasks", "Tasks running now.", value=self._running)
        yield GaugeMetricFamily(
            "ballista_flight_input_memory_bytes",
            "Fetched shuffle input that running tasks hold in memory.",
            value=self.worker.inputs.held,
        )
        yield CounterMetricFamily(
            "ballista_flight_input_landed_bytes",
            "Fetched shuffle input written to files past --input-memory-limit.",
            value=self.worker.inputs.landed_bytes,
        )

    def _deregister(self) -> None:
        if not self._registered.is_set():
            return
        try:
            with self._credentials.client(self.config.scheduler) as scheduler:
                options = flight.FlightCallOptions(timeout=CALL_TIMEOUT_S)
                list(scheduler.do_action(("deregister_executor", self.executor_id.encode()), options))
        except flight.FlightError as exc:
            log.info("could not deregister from the scheduler: %s", flight_message(exc))

    def _membership_loop(self) -> None:
        scheduler = self._credentials.client(self.config.scheduler)
        options = flight.FlightCallOptions(timeout=CALL_TIMEOUT_S)
        interval = self.config.heartbeat_interval_s
        failures = 0
        while not self._stopping.is_set():
            if self._draining.is_set():  # deregistered: do not come back
                self._stopping.wait(0.2)
                continue
            try:
                if not self._registered.is_set():
                    self._register(scheduler, options)
                else:
                    self._heartbeat(scheduler, options)
            except flight.FlightUnauthorizedError as exc:
                log.error("scheduler refused this executor: %s", exc)
                self._stopping.set()
                self.shutdown()
                return
            except Exception as exc:  # keep trying until the scheduler is back
                if not self._stopping.is_set():
                    # Once per outage: a restarting scheduler should not flood the log.
                    level = logging.WARNING if self._registered.is_set() or not failures else logging.DEBUG
                    log.log(level, "scheduler %s unreachable: %s", self.config.scheduler, flight_message(exc))
                failures += 1
                self._registered.clear()
            else:
                failures = 0
            self.store.expire(self.config.job_ttl_s)
            self._stopping.wait(interval if self._registered.is_set() else min(interval, 0.5))
        scheduler.close()

    def _register(self, scheduler: flight.FlightClient, options: flight.FlightCallOptions) -> None:
        reg = pb.ExecutorRegistration(
            executor_id=self.executor_id,
            uri=self.uri,
            slots=self.config.slots,
            datafusion_version=DATAFUSION_VERSION,
            ballista_flight_version=__version__,
            shuffle_mode=self.config.shuffle.value,
        )
        results = list(scheduler.do_action(("register_executor", reg.SerializeToString()), options))
        response = pb.RegistrationResponse()
        response.ParseFromString(results[0].body.to_pybytes())
        if response.cluster_secret:  # without auth the scheduler hands its secret out
            self._secret = response.cluster_secret
        self._registered.set()
        log.info("executor %s registered at %s as %s", self.executor_id, self.config.scheduler, self.uri)

    def _heartbeat(self, scheduler: flight.FlightClient, options: flight.FlightCallOptions) -> None:
        with self._running_lock:
            running = self._running
        beat = pb.Heartbeat(
            executor_id=self.executor_id,
            running_tasks=running,
            shuffle_bytes=self.store.memory_bytes + self.store.disk_bytes,
            memory_bytes=self.store.memory_bytes,
            spilled_bytes=self.store.spilled_bytes,
        )
        results = list(scheduler.do_action(("heartbeat", beat.SerializeToString()), options))
        response = pb.HeartbeatResponse()
        response.ParseFromString(results[0].body.to_pybytes())
        if not response.known:
            self._registered.clear()

    # -- tickets ---------------------------------------------------------------
    def _verify(self, raw: bytes) -> pb.Ticket:
        if self._secret is None:
            msg = "executor is not registered with a scheduler yet"
            raise ExecutorUnavailable(msg)
        return verify(raw, self._secret)

    def _open_source(self, loc: pb.MapOutputLocation, key: PartitionKey) -> Source:
        if loc.executor_id == self.executor_id:
            reader, path = self.store.locate(key)
            return Source(reader=reader, path=path)
        assert self._secret is not None
        ticket = pb.Ticket(
            fetch=pb.FetchTicket(
                job_id=key.job_id, stage_id=key.stage_id, map_partition=key.map_partition, bucket=key.bucket
            )
        )
        raw = sign(ticket, self._secret, FETCH_TICKET_TTL_S)
        try:
            reader = self._peers.get(loc.uri).do_get(flight.Ticket(raw), FETCH_OPTIONS).to_reader()
        except flight.FlightUnavailableError as exc:
            self._peers.drop(loc.uri)
            msg = f"executor {loc.executor_id} at {loc.uri} is unreachable: {flight_message(exc)}"
            raise ShuffleError(msg) from exc
        except flight.FlightError as exc:
            msg = f"fetching shuffle data from executor {loc.executor_id} failed: {flight_message(exc)}"
            raise ShuffleError(msg) from exc
        return Source(reader=reader, remote=True)

    # -- RPCs -------------------------------------------------------------------
    @flight_errors
    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        parsed = self._verify(ticket.ticket)
        kind = parsed.WhichOneof("kind")
        if kind == "fetch":
            f = parsed.fetch
            if self.store.is_released(f.job_id):
                msg = f"job {f.job_id} has finished; its results were already fetched or dropped"
                raise TicketError(msg)
            reader = self.store.read(PartitionKey(f.job_id, f.stage_id, f.map_partition, f.bucket))
            with self._running_lock:
                self.fetches_served += 1
            return aligned_stream(reader)
        if kind == "task":
            with job_context(parsed.task.job_id):
                return self._task_stream(parsed.task)
        msg = f"ticket of kind {kind!r} is not served by executors"
        raise TicketError(msg)

    def _task_stream(self, task: pb.TaskTicket) -> flight.FlightDataStream:
        log.debug("task: stage %d partition %d attempt %d", task.stage_id, task.partition, task.attempt)
        if self._draining.is_set():
            msg = f"executor {self.executor_id} is shutting down"
            raise ExecutorUnavailable(msg)
        if self.store.is_released(task.job_id):
            msg = f"job {task.job_id} has finished; its results were already fetched or dropped"
            raise TicketError(msg)
        if self.faults is not None:
            self.faults.before_task(task, self.store.is_released)
        if task.output == pb.OUTPUT_RESULT and not task.analyze:
            return self._result_stream(task)
        status = self._run_shuffle(task)
        table = pa.table({"task_status": [status.SerializeToString()]}, schema=STATUS_SCHEMA)
        return flight.RecordBatchStream(table)

    def _run_shuffle(self, task: pb.TaskTicket) -> pb.TaskStatus:
        with self._slots:
            with self._running_lock:
                self._running += 1
            try:
                if task.analyze:
                    status = run_analyze_task(task, self._open_source, self._fetch_pool, self.worker)
                else:
                    status = run_shuffle_task(
                        task,
                        self._open_source,
                        self._fetch_pool,
                        self.store,
                        self.worker,
                    )
            finally:
                with self._running_lock:
                    self._running -= 1
                    self.tasks_run += 1
        with self._running_lock:
            self.bytes_fetched_remote += status.bytes_fetched_remote
        return status

    def _result_stream(self, task: pb.TaskTicket) -> flight.FlightDataStream:
        started = time.perf_counter()
        schema, batches, stats = run_result_task(task, self._open_source, self._fetch_pool, self.worker)
        with self._running_lock:
            self.bytes_fetched_remote += stats.remote_bytes

        def generate() -> Iterator[pa.RecordBatch]:
            rows = 0
            try:
                for batch in batches:
                    rows += batch.num_rows
                    yield batch
            except Exception as exc:
                raise to_flight_error(exc) from None
            self._report_result_done(task, rows, time.perf_counter() - started, stats)

        return generated_stream(schema, generate())

    def _report_result_done(
        self, task: pb.TaskTicket, rows: int, elapsed_s: float, stats: TaskInputs
    ) -> None:
        status = pb.TaskStatus(
            job_id=task.job_id,
            stage_id=task.stage_id,
            partition=task.partition,
            executor_id=self.executor_id,
            rows=rows,
            elapsed_s=elapsed_s,
            operators=stats.operators,
            bytes_fetched_remote=stats.remote_bytes,
            bytes_read_local=stats.local_bytes,
        )
        with self._running_lock:
            self.tasks_run += 1
        try:
            client = self._peers.get(task.scheduler_uri)
            options = flight.FlightCallOptions(timeout=CALL_TIMEOUT_S)
            list(client.do_action(("result_done", status.SerializeToString()), options))
        except flight.FlightError as exc:
            log.warning("could not report result of job %s: %s", task.job_id, exc)

    @flight_errors
    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[bytes]:
        body = action.body.to_pybytes() if action.body is not None else b""
        if action.type == "release_job":
            release = pb.ReleaseJob()
            release.ParseFromString(body)
            freed = self.store.release_job(release.job_id)
            return iter([str(freed).encode()])
        if action.type == "CloseSession":  # clients close every connection they opened
            closed = actions_pb.CloseSessionResult(status=actions_pb.CloseSessionResult.CLOSED)
            return iter([closed.SerializeToString()])
        if action.type == "stats":
            return iter([self._stats().encode()])
        msg = f"unknown action {action.type!r} (ListActions lists the supported ones)"
        raise Unsupported(msg)

    def _stats(self) -> str:
        return json.dumps(
            {
                "executor_id": self.executor_id,
                "tasks_run": self.tasks_run,
                "fetches_served": self.fetches_served,
                "bytes_fetched_remote": self.bytes_fetched_remote,
                "running_tasks": self._running,
                "http_port": self.http.port if self.http is not None else None,
                "memory_bytes": self.store.memory_bytes,
                "disk_bytes": self.store.disk_bytes,
                "spilled_bytes": self.store.spilled_bytes,
                "input_memory_bytes": self.worker.inputs.held,
                "input_landed_bytes": self.worker.inputs.landed_bytes,
                "jobs": self.store.jobs(),
            }
        )

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [
            ("release_job", "Drop a job's shuffle data (scheduler only)."),
            ("stats", "JSON counters of this executor."),
        ]
