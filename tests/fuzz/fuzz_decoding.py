"""Coverage-guided fuzzing (atheris) of what servers decode from untrusted bytes.

Run by hand, not by pytest (``pip install atheris``; Linux, CPython 3.11):

    .venv/bin/python tests/fuzz/fuzz_decoding.py -runs=200000          # all targets
    .venv/bin/python tests/fuzz/fuzz_decoding.py -max_total_time=60

Targets, picked by the first input byte: ticket envelopes (random bytes, and
random payloads under a valid signature, as if the secret leaked), statement
classification and the operator count (run on every SQL text before DataFusion
sees it), Flight SQL commands (packed ``Any`` messages of every type we accept,
and ``?`` placeholder numbering), the fault-injection spec and data-root resolution. Each may raise only
its documented error; anything else is a crash that atheris reports with the input.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "src"))

with atheris.instrument_imports():
    from google.protobuf import any_pb2

    from ballista_flight.errors import PlanningError, TicketError, Unsupported
    from ballista_flight.executor.faults import parse as parse_faults
    from ballista_flight.proto import ballista_flight_pb2 as pb
    from ballista_flight.scheduler import flightsql
    from ballista_flight.scheduler.dataroots import inside
    from ballista_flight.scheduler.statements import classify, explain_options, operator_count
    from ballista_flight.tickets import sign, verify

SECRET = b"fuzzing-secret"
ROOTS = ["/srv/data"]


def _ticket(data: bytes) -> None:
    with contextlib.suppress(TicketError):
        verify(data, SECRET)


def _signed_payload(data: bytes) -> None:
    envelope = pb.SignedTicket(payload=data, signature=hmac.new(SECRET, data, hashlib.sha256).digest())
    try:
        ticket = verify(envelope.SerializeToString(), SECRET)
    except TicketError:
        return
    kind = ticket.WhichOneof("kind")
    if kind is not None:  # what a server reads next must be readable, and re-signable
        getattr(ticket, kind).ListFields()
        verify(sign(ticket, SECRET, 60), SECRET)


def _sql(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    classify(text)
    operator_count(text)
    explain_options(text)


FLIGHT_SQL_TYPES = sorted(flightsql._MESSAGES)


def _flight_sql(data: bytes) -> None:
    """A raw command, then a random body under each message type a client may name."""
    with contextlib.suppress(Unsupported, PlanningError):
        flightsql.unpack(data)
    if data:
        name = FLIGHT_SQL_TYPES[data[0] % len(FLIGHT_SQL_TYPES)]
        packed = any_pb2.Any(type_url=flightsql.TYPE_PREFIX + name, value=data[1:]).SerializeToString()
        with contextlib.suppress(PlanningError):
            flightsql.unpack(packed)
    flightsql.number_placeholders(data.decode("utf-8", errors="replace"))


def _faults(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_faults(data.decode("utf-8", errors="replace"))


def _roots(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace").replace("\x00", "")
    inside(text, ROOTS)


TARGETS = [_ticket, _signed_payload, _sql, _faults, _roots, _flight_sql]


def one_input(data: bytes) -> None:
    """atheris entry point: the first byte picks the target, the rest is its input."""
    if not data:
        return
    TARGETS[data[0] % len(TARGETS)](data[1:])


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
