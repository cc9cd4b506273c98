"""Logging for every process: plain text or one JSON object per line, with the job id.

A job's work crosses threads (Flight handlers, the scheduler's task pool, the
executor's fetch pool); a ``contextvars.ContextVar`` carries the job id, and a
``logging.Filter`` on the handler stamps it on every record, so every line that
concerns a job says which one without each call site passing it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator

LOG_FORMATS = ("text", "json")

current_job: contextvars.ContextVar[str] = contextvars.ContextVar("ballista_flight_job", default="")

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "job_id"}


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Lines logged inside the block (in this thread or context) carry ``job_id``."""
    token = current_job.set(job_id)
    try:
        yield
    finally:
        current_job.reset(token)


class JobIdFilter(logging.Filter):
    """Stamps ``record.job_id`` from the context (an explicit ``extra={'job_id': ...}`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "job_id", ""):
            record.job_id = current_job.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job_id, extras, exception."""

    def __init__(self, role: str = "") -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.role:
            out["role"] = self.role
        job_id = getattr(record, "job_id", "")
        if job_id:
            out["job_id"] = job_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
                )
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, with ``[job <id>]`` when the line concerns a job."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job_id = getattr(record, "job_id", "")
        return f"{line} [job {job_id}]" if job_id else line


def setup_logging(
    level: str = "info", fmt: str = "text", role: str = "", stream: TextIO | None = None
) -> None:
    """Configure the root logger once for this process (replacing earlier handlers)."""
    if fmt not in LOG_FORMATS:
        msg = f"unknown log format {fmt!r} (choose from {', '.join(LOG_FORMATS)})"
        raise ValueError(msg)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(JobIdFilter())
    handler.setFormatter(JsonFormatter(role) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # DataFusion's Rust logs reach Python logging too; at debug they are thousands of lines
    # per session (every function it registers). Ours are the ones to debug.
    logging.getLogger("datafusion").setLevel(max(root.level, logging.INFO))
