"""Descriptor commands: SQL text and packed Substrait commands never collide."""

from __future__ import annotations

import pytest

from ballista_flight import commands
from ballista_flight.errors import PlanningError
from ballista_flight.proto import ballista_flight_pb2 as pb


def test_sql_stays_sql() -> None:
    for sql in ["SELECT 1", "\nSELECT 1", "\n\x05type.googleapis.com/x", ""]:
        assert commands.parse(sql.encode()) == sql


def test_substrait_command_round_trips() -> None:
    command = pb.SubstraitPlanCommand(plan=b"\x01\x02", explain=True)
    parsed = commands.parse(commands.pack(command))
    assert isinstance(parsed, pb.SubstraitPlanCommand)
    assert parsed == command


def test_unknown_packed_command_and_binary_garbage_are_refused() -> None:
    from google.protobuf import any_pb2

    other = any_pb2.Any(type_url="type.googleapis.com/some.Other", value=b"")
    with pytest.raises(PlanningError, match="unsupported command type"):
        commands.parse(other.SerializeToString())
    with pytest.raises(PlanningError, match="neither UTF-8"):
        commands.parse(b"\xff\xfe")
