"""Schema-less splicing of protobuf messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballista_flight.plan.protowire import (
    ProtoWireError,
    decode_varint,
    encode_varint,
    replace_submessage,
)
from ballista_flight.proto import ballista_flight_pb2 as pb


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert decode_varint(data, 0, len(data)) == (value, len(data))


def test_negative_varint_is_refused() -> None:
    with pytest.raises(ProtoWireError):
        encode_varint(-1)


def _nested(inner_payload: bytes) -> tuple[bytes, bytes]:
    """A ticket whose task's plan field nests deep enough to test length fixing."""
    inp = pb.ShuffleInput(stage_id=7, placeholder=inner_payload, original=b"zz")
    task = pb.TaskTicket(job_id="j", plan=b"p" * 3, inputs=[inp], buckets=4)
    outer = pb.Ticket(task=task, expires_at_ms=5)
    return outer.SerializeToString(), inp.SerializeToString()


@given(st.binary(min_size=0, max_size=300), st.binary(min_size=0, max_size=300))
def test_replacing_a_submessage_fixes_every_enclosing_length(old: bytes, new: bytes) -> None:
    whole, inner = _nested(old)
    replacement = pb.ShuffleInput(stage_id=9, placeholder=new).SerializeToString()
    spliced = replace_submessage(whole, inner, replacement)
    parsed = pb.Ticket()
    parsed.ParseFromString(spliced)
    assert parsed.expires_at_ms == 5
    assert parsed.task.job_id == "j"
    assert parsed.task.buckets == 4
    assert parsed.task.inputs[0].stage_id == 9
    assert parsed.task.inputs[0].placeholder == new


def test_replacing_the_whole_message() -> None:
    assert replace_submessage(b"abc", b"abc", b"xyz") == b"xyz"


def test_missing_submessage_is_an_error() -> None:
    whole, _ = _nested(b"x")
    with pytest.raises(ProtoWireError, match="not found"):
        replace_submessage(whole, b"\x01\x02\x03nothere", b"")


def test_match_that_is_not_a_field_boundary_is_skipped() -> None:
    # The inner message's bytes also occur inside a string field that comes first.
    inner = pb.FetchTicket(job_id="abc", bucket=3).SerializeToString()
    msg = pb.TaskTicket(job_id=inner.decode("latin-1"), plan=inner)
    # job_id holds the bytes as text: only the plan field is a sub-message boundary at the
    # second occurrence; the first occurrence is a whole field too, so both are valid targets.
    data = msg.SerializeToString()
    out = replace_submessage(data, inner, b"Z")
    parsed = pb.TaskTicket()
    parsed.ParseFromString(out)
    assert b"Z" in (parsed.plan, parsed.job_id.encode("latin-1"))
