"""Error translation: clients get one line; logs keep their tracebacks."""

from __future__ import annotations

import traceback

from google.protobuf.message import DecodeError
from pyarrow import flight

from ballista_flight.errors import datafusion_message, keep_tracebacks_from_clients, to_flight_error


def test_tracebacks_outside_flight_handlers_are_untouched() -> None:
    keep_tracebacks_from_clients()
    keep_tracebacks_from_clients()  # idempotent
    try:
        raise ValueError("boom")
    except ValueError as exc:
        text = "".join(traceback.format_exception(exc))
        legacy = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert "Traceback (most recent call last)" in text
    assert 'File "' in text
    assert legacy == text


def test_malformed_protobuf_is_an_invalid_request() -> None:
    error = to_flight_error(DecodeError("Wire format was corrupt"))
    assert isinstance(error, flight.FlightServerError)
    assert str(error).startswith("invalid request")


def test_a_python_functions_exception_is_told_as_type_message_and_line() -> None:
    raw = (
        "DataFusion error: Execution error: PyErr { type: <class 'ValueError'>, value: ValueError('bad value 42'), "
        'traceback: Some("Traceback (most recent call last):\\n  File \\"<dynamic-code>\\", line 6, in boom\\n") }'
    )
    assert datafusion_message(Exception(raw)) == "ValueError: bad value 42 (in boom, line 6)"
    untraced = "PyErr { type: <class 'pyarrow.lib.ArrowInvalid'>, value: ArrowInvalid(\"it's bad\"), traceback: None }"
    assert datafusion_message(Exception(f"Execution error: {untraced}")) == "ArrowInvalid: it's bad"
    assert datafusion_message(Exception("Execution error: plain")) == "plain"
