"""ballista-flight's exceptions, and their translation at the Flight boundary.

    BallistaFlightError
     ├── PlanningError          the SQL or plan cannot be run (bad SQL, unknown table)
     ├── TicketError            a ticket is malformed, forged, expired, or for a finished job
     ├── ShuffleError           shuffle data is missing or could not be fetched
     ├── ExecutorUnavailable    no executor can run the work, or one cannot be reached
     ├── TaskFailed             a task failed on an executor
 └── Unsupported            a Flight / Flight SQL feature we do not offer (UNIMPLEMENTED)

Every RPC handler is wrapped by ``flight_errors`` so a client always gets a
``FlightError`` subclass with a one-line message, never a Python traceback.
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from google.protobuf.message import DecodeError
from pyarrow import flight

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("ballista_flight.errors")

MAX_MESSAGE = 2000


class BallistaFlightError(Exception):
    """Base class of ballista-flight's errors."""


class PlanningError(BallistaFlightError):
    """The statement cannot be planned: bad SQL, unknown table or column."""


class TicketError(BallistaFlightError):
    """A ticket is malformed, forged, expired, or refers to a finished job."""


class ShuffleError(BallistaFlightError):
    """Shuffle data is missing or could not be fetched."""


class ExecutorUnavailable(BallistaFlightError):
    """No executor can run the work, or one could not be reached."""


class TaskFailed(BallistaFlightError):
    """A task failed on an executor."""


class Unsupported(BallistaFlightError):
    """A Flight or Flight SQL feature this server does not offer: gRPC UNIMPLEMENTED.

    Drivers depend on that code: ADBC, for one, falls back to simpler calls only
    when the answer is UNIMPLEMENTED.
    """


class Unimplemented(NotImplementedError):
    """What leaves the server for ``Unsupported``: pyarrow maps it to gRPC UNIMPLEMENTED.

    No FlightError class maps to that code. Like any plain exception it would carry
    a traceback to the client; ``keep_tracebacks_from_clients`` cuts it to one line.
    """


def one_line(exc: BaseException | str) -> str:
    """A single-line, bounded message for ``exc``."""
    text = exc if isinstance(exc, str) else str(exc) or type(exc).__name__
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


# How DataFusion prints an exception raised by Python code it called (a UDF): the
# exception's repr, and the traceback as a Rust debug string.
_PYERR = re.compile(
    r"PyErr \{ type: <class '(?P<type>[\w.]+)'>, value: (?P<value>.*?), "
    r"traceback: (?:Some\(\"(?P<trace>.*?)\"\)|None) \}",
    re.DOTALL,
)
_FRAME = re.compile(r'File \\"[^"\\]*\\", line (?P<line>\d+), in (?P<name>[\w<>.]+)')


def _python_error(match: re.Match[str]) -> str:
    """``ValueError: bad value (in boom, line 6)`` for a PyErr's debug text."""
    kind = match["type"].rsplit(".", 1)[-1]
    value = match["value"]
    if value.startswith(f"{kind}(") and value.endswith(")"):
        value = value[len(kind) + 1 : -1]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
    frames = list(_FRAME.finditer(match["trace"] or ""))
    where = f" (in {frames[-1]['name']}, line {frames[-1]['line']})" if frames else ""
    return f"{kind}: {value}{where}"


def datafusion_message(exc: BaseException) -> str:
    """DataFusion errors arrive as plain ``Exception``; keep their text, minus noise.

    A Python function's exception (a UDF's) is told as its type, message and the
    line that raised it, not as DataFusion's debug dump of it.
    """
    text = _PYERR.sub(_python_error, str(exc))
    text = one_line(text)
    for prefix in ("DataFusion error: ", "Execution error: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if "Resources exhausted" in text:
        # DataFusion names its own setting; here the bound is the executors' flag.
        text += " [raise the executors' --task-memory-limit (BALLISTA_FLIGHT_TASK_MEMORY_LIMIT), or unset it]"
    return text


def flight_message(exc: BaseException) -> str:
    """A FlightError's server message, without gRPC's detail and debug context."""
    text = str(exc)
    text = text.split(". Detail:", 1)[0].split("\ngRPC client debug context", 1)[0]
    return one_line(text)


def to_flight_error(exc: BaseException) -> flight.FlightError:
    """The FlightError a client should see for ``exc``."""
    if isinstance(exc, flight.FlightError):
        return exc
    message = one_line(exc)
    if isinstance(exc, ExecutorUnavailable):
        return flight.FlightUnavailableError(message)
    if isinstance(exc, TicketError):
        return flight.FlightUnauthorizedError(message)
    if isinstance(exc, BallistaFlightError):
        return flight.FlightServerError(message)
    if isinstance(exc, (pa.ArrowInvalid, ValueError, KeyError, TypeError, DecodeError)):
        return flight.FlightServerError(f"invalid request: {message}")
    log.exception("internal error", exc_info=exc)
    return flight.FlightInternalError(f"internal error: {type(exc).__name__}: {message}")


F = TypeVar("F", bound="Callable[..., Any]")


def flight_errors(method: F) -> F:
    """Wrap an RPC handler so every failure leaves as a one-line FlightError."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except flight.FlightError:
            raise
        except Unsupported as exc:
            raise Unimplemented(one_line(exc)) from None
        except BaseException as exc:
            raise to_flight_error(exc) from None

    return wrapper  # type: ignore[return-value]


_UNSET: Any = object()


def _from_flight_handler(tb: Any) -> bool:
    """Whether a traceback starts in pyarrow's Flight server callbacks (an RPC handler)."""
    return tb is not None and str(tb.tb_frame.f_code.co_filename).endswith("_flight.pyx")


def keep_tracebacks_from_clients() -> None:
    """Make pyarrow send clients the error line only, never a traceback.

    pyarrow turns an exception that escapes a Flight handler into an error status
    whose detail is ``traceback.format_exception(...)``: file paths and code lines
    of this server. Most handlers raise ``FlightError``, which pyarrow passes on
    cleanly, but not ``Unimplemented`` (UNIMPLEMENTED has no FlightError), not
    FlightErrors from its GetSchema callback, and not the base class's unimplemented
    RPCs (DoPut, DoExchange, ... on an executor): this is the one net under all of
    them. It narrows ``traceback.format_exception`` for exceptions leaving a Flight
    handler to their last line; every other caller (logging included) is
    unaffected. Idempotent.
    """
    original = traceback.format_exception
    if getattr(original, "_ballista_flight", False):
        return

    def format_exception(
        exc: Any, /, value: Any = _UNSET, tb: Any = _UNSET, limit: int | None = None, chain: bool = True
    ) -> list[str]:
        trace = getattr(exc, "__traceback__", None) if tb is _UNSET else tb
        if _from_flight_handler(trace):
            error = exc if value is _UNSET else value
            return [f"{type(error).__name__}: {one_line(error)}"]
        if value is _UNSET:
            return original(exc, limit=limit, chain=chain)
        return original(exc, value, tb, limit=limit, chain=chain)

    format_exception._ballista_flight = True  # type: ignore[attr-defined]
    traceback.format_exception = format_exception  # type: ignore[assignment]
