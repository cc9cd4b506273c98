"""Schema-less protobuf surgery on serialized DataFusion physical plans.

DataFusion's wheel does not ship its physical-plan ``.proto``, but a child
plan's ``to_bytes()`` appears verbatim inside its parent's encoding. Swapping
those bytes for another plan's bytes (and fixing the length prefixes of every
enclosing message) is how the distributed planner replaces an exchange with a
shuffle read, without knowing a single field number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_WIRE_VARINT = 0
_WIRE_I64 = 1
_WIRE_LEN = 2
_WIRE_I32 = 5


class ProtoWireError(ValueError):
    """The bytes are not the protobuf encoding we expected."""


def encode_varint(value: int) -> bytes:
    """Encode a non-negative int as a protobuf base-128 varint."""
    if value < 0:
        msg = f"varint must be non-negative, got {value}"
        raise ProtoWireError(msg)
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``pos``; return ``(value, position after it)``."""
    result = 0
    shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    msg = "truncated or overlong varint"
    raise ProtoWireError(msg)


@dataclass(frozen=True)
class Field:
    """One field of an encoded message.

    A length-delimited field's payload is ``buf[payload_start:payload_end]`` and its
    length prefix starts at ``len_start``; any other field has an empty payload at its end.
    """

    number: int
    wire: int
    key_start: int
    len_start: int
    payload_start: int
    payload_end: int


def fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[Field]:
    """The fields of the message in ``buf[start:end]``, in order, read lazily.

    Raises ``ProtoWireError`` on a wire type protobuf does not use or a field that runs
    past the message: the bytes are not a message.
    """
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key_start = pos
        key, pos = decode_varint(buf, pos, end)
        wire = key & 0x7
        len_start = pos
        payload_start = -1
        if wire == _WIRE_VARINT:
            _, pos = decode_varint(buf, pos, end)
        elif wire == _WIRE_I64:
            pos += 8
        elif wire == _WIRE_I32:
            pos += 4
        elif wire == _WIRE_LEN:
            length, payload_start = decode_varint(buf, pos, end)
            pos = payload_start + length
        else:
            msg = f"unsupported wire type {wire}"
            raise ProtoWireError(msg)
        if pos > end:
            msg = "field runs past its message"
            raise ProtoWireError(msg)
        yield Field(key >> 3, wire, key_start, len_start, pos if payload_start < 0 else payload_start, pos)


def _path_to(buf: bytes, start: int, end: int, target: tuple[int, int]) -> list[Field]:
    """Fields, outermost first, whose payloads enclose ``target`` (the last is it)."""
    for field in fields(buf, start, end):
        if field.wire != _WIRE_LEN:
            continue
        if field.payload_start <= target[0] and target[1] <= field.payload_end:
            if (field.payload_start, field.payload_end) == target:
                return [field]
            return [field, *_path_to(buf, field.payload_start, field.payload_end, target)]
    msg = "target bytes are not a sub-message of this message"
    raise ProtoWireError(msg)


def replace_submessage(buf: bytes, old: bytes, new: bytes) -> bytes:
    """Return ``buf`` with the first embedded sub-message equal to ``old`` replaced by ``new``.

    Raises ``ProtoWireError`` if ``old`` is not found as a whole sub-message.
    """
    if buf == old:
        return new
    search_from = 0
    while True:
        offset = buf.find(old, search_from)
        if offset < 0:
            msg = "sub-message not found in plan"
            raise ProtoWireError(msg)
        try:
            path = _path_to(buf, 0, len(buf), (offset, offset + len(old)))
        except ProtoWireError:
            # The bytes matched somewhere that is not a field boundary; keep looking.
            search_from = offset + 1
            continue
        return _rebuild(buf, path, new)


def _rebuild(buf: bytes, path: list[Field], new: bytes) -> bytes:
    def payload(i: int) -> bytes:
        if i == len(path) - 1:
            return new
        outer, inner = path[i], path[i + 1]
        body = payload(i + 1)
        return (
            buf[outer.payload_start : inner.len_start]
            + encode_varint(len(body))
            + body
            + buf[inner.payload_end : outer.payload_end]
        )

    first = path[0]
    body = payload(0)
    return buf[: first.len_start] + encode_varint(len(body)) + body + buf[first.payload_end :]


def _payloads(buf: bytes, start: int, end: int, out: list[bytes], depth: int) -> bool:
    """Collect every length-delimited payload in ``buf[start:end]``; False if it is no message."""
    try:
        found = []
        for field in fields(buf, start, end):
            if field.number == 0:
                return False
            if field.wire == _WIRE_LEN:
                found.append((field.payload_start, field.payload_end))
    except ProtoWireError:
        return False
    for lo, hi in found:
        out.append(buf[lo:hi])
        if depth < 64:
            _payloads(buf, lo, hi, out, depth + 1)
    return True


def strings(buf: bytes) -> list[str]:
    """Every length-delimited payload of ``buf`` (at any depth) that is valid UTF-8 text.

    Schema-less, so a nested message whose bytes happen to be valid UTF-8 shows up too:
    callers filter for the shape they look for.
    """
    payloads: list[bytes] = []
    _payloads(buf, 0, len(buf), payloads, 0)
    out = []
    for data in payloads:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text.isprintable():
            out.append(text)
    return out


def replace_all(buf: bytes, old: bytes, new: bytes) -> bytes:
    """``buf`` with every embedded field payload equal to ``old`` replaced by ``new``."""
    if old == new:
        return buf
    while True:
        try:
            buf = replace_submessage(buf, old, new)
        except ProtoWireError:
            return buf
