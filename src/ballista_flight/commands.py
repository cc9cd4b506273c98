"""What a Flight command descriptor holds: UTF-8 SQL, or a packed ballista-flight message.

Plain SQL stays the simplest thing any Flight client can send. Other commands
(a Substrait plan from the DataFrame API) travel packed in
``google.protobuf.Any``, the way Flight SQL packs its commands: an ``Any``
starts with its type URL, which no SQL text does, so the two never collide.
"""

from __future__ import annotations

import re

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from ballista_flight.errors import PlanningError
from ballista_flight.proto import ballista_flight_pb2 as pb

_TYPE_PREFIX = "type.googleapis.com/"
SUBSTRAIT_TYPE_URL = _TYPE_PREFIX + pb.SubstraitPlanCommand.DESCRIPTOR.full_name


def pack(message: pb.SubstraitPlanCommand) -> bytes:
    """The descriptor command carrying ``message``."""
    packed = any_pb2.Any()
    packed.Pack(message)
    return bytes(packed.SerializeToString())


def _unpack_any(data: bytes) -> any_pb2.Any | None:
    # An Any's first field is its type URL (tag 0x0a); SQL never starts with a
    # newline followed by a length and "type.googleapis.com/".
    if not data.startswith(b"\n") or _TYPE_PREFIX.encode() not in data[:64]:
        return None
    packed = any_pb2.Any()
    try:
        packed.ParseFromString(data)
    except DecodeError:
        return None
    return packed if packed.type_url.startswith(_TYPE_PREFIX) else None


def parse(data: bytes) -> str | pb.SubstraitPlanCommand:
    """The SQL text or the Substrait command in a descriptor's command bytes."""
    packed = _unpack_any(data)
    if packed is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = "the command is neither UTF-8 SQL text nor a packed ballista-flight command"
            raise PlanningError(msg) from exc
    if packed.type_url != SUBSTRAIT_TYPE_URL:
        msg = f"unsupported command type {packed.type_url!r}"
        raise PlanningError(msg)
    command = pb.SubstraitPlanCommand()
    if not packed.Unpack(command):
        msg = "malformed SubstraitPlanCommand"
        raise PlanningError(msg)
    return command


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


WRITE_FORMATS = ("PARQUET", "CSV", "JSON")
_BARE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def copy_statement(
    query: str, path: str, fmt: str, partition_by: list[str] | None, options: dict[str, str] | None
) -> str:
    """``COPY (query) TO path STORED AS fmt [PARTITIONED BY (...)] [OPTIONS (...)]``."""
    if fmt.upper() not in WRITE_FORMATS:
        msg = f"cannot write {fmt!r}: the formats are {', '.join(WRITE_FORMATS)}"
        raise PlanningError(msg)
    sql = f"COPY ({query}) TO {quote(path)} STORED AS {fmt.upper()}"
    if partition_by:
        # DataFusion's COPY keeps quotes as part of a partition column's name: use bare names.
        bad = [c for c in partition_by if not _BARE_NAME.match(c)]
        if bad:
            msg = f"partition columns must be plain names (letters, digits, _): {bad}"
            raise PlanningError(msg)
        sql += f" PARTITIONED BY ({', '.join(partition_by)})"
    if options:
        sql += f" OPTIONS ({', '.join(f'{quote(k)} {quote(v)}' for k, v in options.items())})"
    return sql
