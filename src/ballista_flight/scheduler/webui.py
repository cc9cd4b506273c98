"""The scheduler's web page and its JSON API, on the HTTP side port.

``/`` is one static page (``webui.html``: plain HTML, CSS and JavaScript, no
build step, nothing fetched from outside) that polls the JSON endpoints:

* ``/api/jobs``: running and recent jobs, newest first (``?limit=N``)
* ``/api/jobs/<id>``: one job: stages with progress and metrics, every task attempt
* ``/api/jobs/<id>/dot``: its stage graph in Graphviz DOT
* ``/api/executors``: registered executors and their load

With authentication enabled on the cluster, the page and the API want the same
credentials as Flight clients (Basic user:password, or a bearer token); probes
and /metrics stay open, as Kubernetes and Prometheus expect.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pyarrow import flight

from ballista_flight.plan.stages import to_dot
from ballista_flight.scheduler import report

if TYPE_CHECKING:
    from collections.abc import Callable

    from ballista_flight.scheduler.cluster import Cluster
    from ballista_flight.scheduler.jobs import JobManager
    from ballista_flight.security import Authenticator

JSON = "application/json"


def page() -> bytes:
    """The HTML page."""
    return resources.files("ballista_flight.scheduler").joinpath("webui.html").read_bytes()


def executors_report(cluster: Cluster) -> list[dict[str, Any]]:
    """Registered executors with their load, as of their last heartbeat."""
    now = time.monotonic()
    return [
        {
            "executor_id": e.executor_id,
            "uri": e.uri,
            "slots": e.slots,
            "busy_slots": e.slots - e.free,
            "running_tasks": e.running_tasks,
            "tasks_done": e.tasks_done,
            "shuffle_mode": e.shuffle_mode,
            "shuffle_bytes": e.shuffle_bytes,
            "memory_bytes": e.memory_bytes,
            "spilled_bytes": e.spilled_bytes,
            "heartbeat_age_s": round(now - e.last_seen, 3),
            "registered_at": e.registered_at,
        }
        for e in cluster.executors()
    ]


def _json(value: object, status: int = 200) -> tuple[int, bytes, str]:
    return status, json.dumps(value).encode(), JSON


def allowed(authenticator: Authenticator | None, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header passes (always, when the cluster has no authentication)."""
    if authenticator is None:
        return True
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    try:
        if scheme.lower() == "bearer":
            authenticator.bearer(credentials.strip())
            return True
        if scheme.lower() == "basic" and authenticator.users:
            authenticator.basic(credentials.strip())
            return True
    except flight.FlightUnauthenticatedError:
        return False
    return False


def routes(
    jobs: JobManager, cluster: Cluster, authenticator: Authenticator | None = None
) -> Callable[[str, str | None], tuple[int, bytes, str] | None]:
    """The handler of every path the page and its API serve (None: not ours)."""

    def handle(raw_path: str, authorization: str | None) -> tuple[int, bytes, str] | None:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        ours = path in ("/", "/index.html") or path == "/api" or path.startswith("/api/")
        if ours and not allowed(authenticator, authorization):
            return 401, b"authentication required\n", "text/plain"
        if path in ("/", "/index.html"):
            return 200, page(), "text/html; charset=utf-8"
        if path == "/api/jobs":
            try:
                limit = int(parse_qs(parts.query).get("limit", ["200"])[0])
            except ValueError:
                return _json({"error": "limit must be a number"}, 400)
            ordered = sorted(jobs.jobs(), key=lambda j: j.created, reverse=True)[: max(0, limit)]
            return _json([report.job_summary(j) for j in ordered])
        if path == "/api/executors":
            return _json(executors_report(cluster))
        if path.startswith("/api/jobs/"):
            rest = unquote(path.removeprefix("/api/jobs/"))
            job_id, _, what = rest.partition("/")
            try:
                job = jobs.job(job_id)
            except KeyError:
                return _json({"error": f"unknown job {job_id}"}, 404)
            if what == "dot":
                return 200, to_dot(job.stages).encode(), "text/vnd.graphviz; charset=utf-8"
            if what:
                return None
            return _json(report.job_detail(job))
        return None

    return handle
