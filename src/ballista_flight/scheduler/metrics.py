"""The scheduler's /metrics: jobs, tasks, shuffle volumes and the executors' load.

Read from the scheduler's own state at scrape time (see http.py): job states
from the job table, counters from ``JobManager.stats``, executor load and
shuffle-store sizes from the executors' latest heartbeats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ballista_flight.scheduler.jobs import TASK_BUCKETS
from ballista_flight.scheduler.report import state_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from ballista_flight.scheduler.cluster import Cluster
    from ballista_flight.scheduler.jobs import JobManager

JOB_STATES = ("queued", "running", "results_ready", "succeeded", "failed", "cancelled")


def scheduler_metrics(jobs: JobManager, cluster: Cluster) -> Iterator[Metric]:
    """Every metric family the scheduler exposes."""
    by_state = GaugeMetricFamily("ballista_flight_jobs", "Tracked jobs by state.", labels=["state"])
    states: dict[str, int] = {}
    for job in jobs.jobs():
        name = state_name(job.state)
        states[name] = states.get(name, 0) + 1
    for name in JOB_STATES:
        by_state.add_metric([name], states.get(name, 0))
    yield by_state
    stats = jobs.stats
    finished = CounterMetricFamily(
        "ballista_flight_jobs_finished",
        "Jobs finished since the scheduler started, by outcome.",
        labels=["state"],
    )
    for name in ("succeeded", "failed", "cancelled"):
        finished.add_metric([name], stats.jobs_finished.get(name, 0))
    yield finished
    executors = cluster.executors()
    yield GaugeMetricFamily("ballista_flight_executors", "Registered executors.", value=len(executors))
    slots = GaugeMetricFamily("ballista_flight_executor_slots", "Task slots by state.", labels=["state"])
    slots.add_metric(["free"], sum(e.free for e in executors))
    slots.add_metric(["busy"], sum(e.slots - e.free for e in executors))
    yield slots
    yield GaugeMetricFamily(
        "ballista_flight_task_queue_length", "Tasks waiting for a free slot.", value=cluster.waiting
    )
    cumulative, buckets = 0, []
    for bound, count in zip([*TASK_BUCKETS, float("inf")], stats.task_buckets, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    yield HistogramMetricFamily(
        "ballista_flight_task_duration_seconds",
        "Tasks run by executors (map tasks and result tasks), by duration.",
        buckets=buckets,
        sum_value=stats.task_seconds,
    )
    yield CounterMetricFamily(
        "ballista_flight_shuffle_written_bytes",
        "Shuffle bytes written by map tasks.",
        value=stats.shuffle_bytes,
    )
    yield CounterMetricFamily(
        "ballista_flight_shuffle_written_rows", "Shuffle rows written by map tasks.", value=stats.shuffle_rows
    )
    yield CounterMetricFamily(
        "ballista_flight_shuffle_read_bytes",
        "Shuffle bytes tasks read (from their own executor and from others).",
        value=stats.read_bytes,
    )
    yield CounterMetricFamily(
        "ballista_flight_shuffle_remote_read_bytes",
        "Shuffle bytes tasks fetched from other executors.",
        value=stats.remote_bytes,
    )
    yield CounterMetricFamily(
        "ballista_flight_operator_spilled_bytes",
        "Bytes DataFusion operators (sorts, joins, aggregates) spilled inside tasks.",
        value=stats.spilled_bytes,
    )
    yield GaugeMetricFamily(
        "ballista_flight_shuffle_store_bytes",
        "Shuffle bytes held by all executors (memory and disk), as of their last heartbeat.",
        value=sum(e.shuffle_bytes for e in executors),
    )
    yield GaugeMetricFamily(
        "ballista_flight_shuffle_store_memory_bytes",
        "Shuffle bytes held in executor memory, as of their last heartbeat.",
        value=sum(e.memory_bytes for e in executors),
    )
    yield GaugeMetricFamily(
        "ballista_flight_shuffle_store_spilled_bytes",
        "Shuffle bytes executors spilled past their memory limit (since each started).",
        value=sum(e.spilled_bytes for e in executors),
    )
    running = GaugeMetricFamily(
        "ballista_flight_executor_running_tasks", "Tasks running on each executor.", labels=["executor"]
    )
    for e in executors:
        running.add_metric([e.executor_id], e.running_tasks)
    yield running
