"""Signing and parsing of the tickets the cluster hands out.

Every ticket is a ``SignedTicket``: the serialized ``Ticket`` and an HMAC of it
under the cluster secret, with an expiry. Executors refuse anything else, so a
client can only run the work the scheduler planned for it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from google.protobuf.message import DecodeError

from ballista_flight.errors import TicketError
from ballista_flight.proto import ballista_flight_pb2 as pb


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


def sign(ticket: pb.Ticket, secret: bytes, ttl_s: float) -> bytes:
    """Serialize ``ticket`` into a signed envelope valid for ``ttl_s`` seconds."""
    ticket.expires_at_ms = now_ms() + int(ttl_s * 1000)
    payload = ticket.SerializeToString()
    signature = hmac.new(secret, payload, hashlib.sha256).digest()
    envelope = pb.SignedTicket(payload=payload, signature=signature)
    return bytes(envelope.SerializeToString())


def verify(raw: bytes, secret: bytes) -> pb.Ticket:
    """Parse and check a signed ticket; raise ``TicketError`` with the reason."""
    envelope = pb.SignedTicket()
    try:
        envelope.ParseFromString(raw)
    except DecodeError as exc:
        msg = "malformed ticket: not a ballista-flight ticket"
        raise TicketError(msg) from exc
    if not envelope.payload or not envelope.signature:
        msg = "malformed ticket: not a ballista-flight ticket"
        raise TicketError(msg)
    expected = hmac.new(secret, envelope.payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, envelope.signature):
        msg = "invalid ticket: signature does not match (forged, or from another cluster)"
        raise TicketError(msg)
    ticket = pb.Ticket()
    try:
        ticket.ParseFromString(envelope.payload)
    except DecodeError as exc:
        msg = "malformed ticket payload"
        raise TicketError(msg) from exc
    if ticket.expires_at_ms and ticket.expires_at_ms < now_ms():
        msg = "expired ticket: ask the scheduler for a new one"
        raise TicketError(msg)
    return ticket
