"""Following a query while GetFlightInfo still runs: a client-chosen job id in a header.

``GetFlightInfo`` answers only once the map stages are done, so a client that
wants to show progress names the job itself: it sends ``x-ballista-job-id:
<id>`` with the call and polls the ``job_status`` action with that id from
another thread. Plain Flight clients send no header and get a generated id, as
before. Headers reach a pyarrow Flight server only through middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyarrow import flight

if TYPE_CHECKING:
    from collections.abc import Mapping

JOB_ID_HEADER = "x-ballista-job-id"
MIDDLEWARE_KEY = "ballista-job-id"


class JobIdMiddleware(flight.ServerMiddleware):
    """Holds the job id a call asked for."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


class JobIdMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Picks ``x-ballista-job-id`` out of each call's headers."""

    def start_call(
        self, info: flight.CallInfo, headers: Mapping[str, list[str | bytes]]
    ) -> JobIdMiddleware | None:
        values = headers.get(JOB_ID_HEADER) or []
        if not values:
            return None
        value = values[0]
        return JobIdMiddleware(value.decode() if isinstance(value, bytes) else value)


def requested_job_id(context: flight.ServerCallContext) -> str | None:
    """The job id the caller chose for this call, if any."""
    middleware = context.get_middleware(MIDDLEWARE_KEY)
    return middleware.job_id if isinstance(middleware, JobIdMiddleware) else None
