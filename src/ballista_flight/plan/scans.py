"""Restricting a file scan to some of its partitions, in the encoded plan.

A ``DataSourceExec`` over files encodes, schema-less but stably, as
``PhysicalPlanNode { <scan kind> { base_conf { file_groups: [FileGroup ...] ... } } }``:
one file group per partition. Emptying the groups a task does not own lets
the task run *every* partition of its stage (straight into the stage's
RepartitionExec, multi-threaded in DataFusion) while reading only its share.
The structure is checked against the node's partition count before use.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballista_flight.plan.protowire import ProtoWireError, decode_varint, encode_varint

_EMPTY_GROUP = b"\x0a\x00"  # field 1, length 0: a FileGroup with no files


@dataclass(frozen=True)
class _Field:
    number: int
    start: int  # where the key starts
    payload_start: int
    end: int


def _fields(buf: bytes) -> list[_Field]:
    out: list[_Field] = []
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = decode_varint(buf, pos, len(buf))
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, pos = decode_varint(buf, pos, len(buf))
            out.append(_Field(number, start, pos, pos + length))
            pos += length
        elif wire == 0:
            _, pos = decode_varint(buf, pos, len(buf))
            out.append(_Field(number, start, pos, pos))
        elif wire == 1:
            pos += 8
            out.append(_Field(number, start, pos, pos))
        elif wire == 5:
            pos += 4
            out.append(_Field(number, start, pos, pos))
        else:
            msg = f"unsupported wire type {wire}"
            raise ProtoWireError(msg)
        if pos > len(buf):
            msg = "field runs past its message"
            raise ProtoWireError(msg)
    return out


def _locate(node: bytes) -> tuple[_Field, _Field, bytes, list[_Field]] | None:
    """The scan field, its base_conf field, base_conf's bytes and its file-group fields."""
    try:
        top = _fields(node)
        if len(top) != 1 or top[0].payload_start == top[0].end:
            return None
        scan = node[top[0].payload_start : top[0].end]
        confs = [f for f in _fields(scan) if f.number == 1 and f.payload_start < f.end]
        if len(confs) != 1:
            return None
        conf = scan[confs[0].payload_start : confs[0].end]
        groups = [f for f in _fields(conf) if f.number == 1]
    except ProtoWireError:
        return None
    return top[0], confs[0], conf, groups


def file_group_count(node: bytes) -> int | None:
    """Number of file groups of an encoded scan node, or None if it is not one."""
    located = _locate(node)
    return None if located is None else len(located[3])


def restrict_file_groups(node: bytes, keep: set[int]) -> bytes:
    """The scan node with every file group not in ``keep`` emptied."""
    located = _locate(node)
    if located is None:
        msg = "not an encoded file scan"
        raise ProtoWireError(msg)
    top, conf_field, conf, groups = located
    new_conf = bytearray()
    pos = 0
    for index, group in enumerate(groups):
        new_conf += conf[pos : group.start]
        new_conf += conf[group.start : group.end] if index in keep else _EMPTY_GROUP
        pos = group.end
    new_conf += conf[pos:]
    scan = node[top.payload_start : top.end]
    new_scan = (
        scan[: conf_field.start] + _with_length(scan, conf_field, bytes(new_conf)) + scan[conf_field.end :]
    )
    return node[: top.start] + _with_length(node, top, new_scan)


def _with_length(buf: bytes, field: _Field, payload: bytes) -> bytes:
    """Re-encode ``field`` (key as in ``buf``) around a new payload."""
    key_end = field.start
    while buf[key_end] & 0x80:
        key_end += 1
    return buf[field.start : key_end + 1] + encode_varint(len(payload)) + payload
