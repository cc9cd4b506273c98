"""Configuration, tickets and the CLI parser, without servers."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from ballista_flight.cli import build_parser, format_table, split_statements
from ballista_flight.config import ExecutorConfig, ShuffleMode, parse_size
from ballista_flight.errors import TicketError
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.tickets import sign, verify


@pytest.mark.parametrize(
    ("text", "size"),
    [("1GiB", 2**30), ("512MiB", 512 * 2**20), ("2gb", 2 * 10**9), ("1000", 1000), ("1.5KiB", 1536)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_size_and_slots_are_refused() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
    with pytest.raises(ValidationError):
        ExecutorConfig(slots=0)


def test_executor_config_from_strings() -> None:
    config = ExecutorConfig(memory_limit="64MiB", shuffle="disk", slots="3")  # type: ignore[arg-type]
    assert config.memory_limit == 64 * 2**20
    assert config.shuffle is ShuffleMode.DISK
    assert config.slots == 3


def test_every_server_flag_names_its_environment_variable() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd")
    for name in ("scheduler", "executor", "standalone", "sql", "jobs"):
        actions = [a for a in sub.choices[name]._actions if a.option_strings and a.dest != "help"]  # type: ignore[index]
        assert actions
        for action in actions:
            if action.dest in {"command", "file", "cancel", "status"}:
                continue
            assert f"BALLISTA_FLIGHT_{action.dest.upper()}" in (action.help or ""), (name, action.dest)


def test_environment_sets_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLISTA_FLIGHT_SLOTS", "7")
    args = build_parser().parse_args(["executor"])
    assert args.slots == "7"


def test_tickets_round_trip_and_refuse_forgery_and_expiry() -> None:
    ticket = pb.Ticket(fetch=pb.FetchTicket(job_id="j", stage_id=1, bucket=2))
    raw = sign(ticket, b"secret", ttl_s=60)
    assert verify(raw, b"secret").fetch.bucket == 2
    with pytest.raises(TicketError, match="signature"):
        verify(raw, b"other secret")
    with pytest.raises(TicketError, match="malformed"):
        verify(b"\xff\xff garbage", b"secret")
    expired = sign(ticket, b"secret", ttl_s=-1)
    time.sleep(0.01)
    with pytest.raises(TicketError, match="expired"):
        verify(expired, b"secret")


def test_split_statements_respects_quotes_and_comments() -> None:
    script = "select 'a;b';\n-- a comment; with semicolon\nselect 2;;"
    assert split_statements(script) == ["select 'a;b'", "-- a comment; with semicolon\nselect 2"]


def test_format_table() -> None:
    import pyarrow as pa

    text = format_table(pa.table({"a": [1, None], "bb": ["x", "y"]}))
    assert "| a    | bb |" in text
    assert "NULL" in text
    assert text.endswith("2 rows")
