"""Restricting a file scan to some of its partitions, in the encoded plan.

A ``DataSourceExec`` over files encodes, schema-less but stably, as
``PhysicalPlanNode { <scan kind> { base_conf { file_groups: [FileGroup ...] ... } } }``:
one file group per partition. Emptying the groups a task does not own lets
the task run *every* partition of its stage (straight into the stage's
RepartitionExec, multi-threaded in DataFusion) while reading only its share.
The structure is checked against the node's partition count before use.
"""

from __future__ import annotations

from ballista_flight.plan.protowire import Field, ProtoWireError, decode_varint, encode_varint, fields

_EMPTY_GROUP = b"\x0a\x00"  # field 1, length 0: a FileGroup with no files


def _locate(node: bytes) -> tuple[Field, Field, bytes, list[Field]] | None:
    """The scan field, its base_conf field, base_conf's bytes and its file-group fields."""
    try:
        top = list(fields(node))
        if len(top) != 1 or top[0].payload_start == top[0].payload_end:
            return None
        scan = node[top[0].payload_start : top[0].payload_end]
        confs = [f for f in fields(scan) if f.number == 1 and f.payload_start < f.payload_end]
        if len(confs) != 1:
            return None
        conf = scan[confs[0].payload_start : confs[0].payload_end]
        groups = [f for f in fields(conf) if f.number == 1]
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
        new_conf += conf[pos : group.key_start]
        new_conf += conf[group.key_start : group.payload_end] if index in keep else _EMPTY_GROUP
        pos = group.payload_end
    new_conf += conf[pos:]
    scan = node[top.payload_start : top.payload_end]
    new_scan = (
        scan[: conf_field.key_start]
        + _with_length(scan, conf_field, bytes(new_conf))
        + scan[conf_field.payload_end :]
    )
    return node[: top.key_start] + _with_length(node, top, new_scan)


def _with_length(buf: bytes, field: Field, payload: bytes) -> bytes:
    """Re-encode ``field`` (key as in ``buf``) around a new payload."""
    return buf[field.key_start : field.len_start] + encode_varint(len(payload)) + payload


_WIRE_VARINT, _WIRE_LEN = 0, 2


def scan_files(node: bytes) -> dict[bytes, int] | None:
    """Path -> size in bytes of every file an encoded scan reads, or None if it is not one.

    A ``PartitionedFile`` encodes its path as field 1 and the file's size as field 2.
    """
    located = _locate(node)
    if located is None:
        return None
    conf, groups = located[2], located[3]
    files: dict[bytes, int] = {}
    try:
        for group in groups:
            for entry in fields(conf, group.payload_start, group.payload_end):
                path, size = None, None
                for field in fields(conf, entry.payload_start, entry.payload_end):
                    if field.number == 1 and field.wire == _WIRE_LEN:
                        path = conf[field.payload_start : field.payload_end]
                    elif field.number == 2 and field.wire == _WIRE_VARINT:
                        size = decode_varint(conf, field.len_start, entry.payload_end)[0]
                if path is None or size is None:
                    return None
                files[path] = size
    except ProtoWireError:
        return None
    return files
