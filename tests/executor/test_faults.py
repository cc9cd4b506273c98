"""The fault-injection spec: parsing, and which tasks a rule hits."""

from __future__ import annotations

import time

import pytest

from ballista_flight.config import ExecutorConfig
from ballista_flight.executor.faults import InjectedFault, injector, parse
from ballista_flight.proto import ballista_flight_pb2 as pb


def _task(stage: int, partition: int, attempt: int = 0, plan: bytes = b"") -> pb.TaskTicket:
    return pb.TaskTicket(stage_id=stage, partition=partition, attempt=attempt, plan=plan)


def test_off_by_default() -> None:
    assert injector(ExecutorConfig().fault_injection, "e") is None


def test_fail_twice_then_run() -> None:
    faults = injector("fail:stage=1,partition=0,times=2", "e")
    assert faults is not None
    for attempt in (1, 2):  # attempts count from 1
        with pytest.raises(InjectedFault, match="stage 1 task 0 attempt"):
            faults.before_task(_task(1, 0, attempt))
    faults.before_task(_task(1, 0, 3))
    faults.before_task(_task(1, 1, 1))
    faults.before_task(_task(0, 0, 1))


def test_filters_by_plan_bytes_and_executor() -> None:
    faults = injector("fail:match=marker,executor=e1", "e1")
    assert faults is not None
    with pytest.raises(InjectedFault):
        faults.before_task(_task(3, 2, 7, plan=b"..marker.."))
    faults.before_task(_task(3, 2, 7, plan=b"..other.."))
    other = injector("fail:match=marker,executor=e1", "e2")
    assert other is not None
    other.before_task(_task(3, 2, 7, plan=b"..marker.."))


def test_stall_sleeps_until_its_time_or_the_release_of_its_job() -> None:
    faults = injector("stall:stage=2,seconds=0.3,times=1", "e")
    assert faults is not None
    for attempt, stalls in ((0, True), (1, True), (2, False)):  # 0: unset (a result ticket's first)
        started = time.monotonic()
        faults.before_task(_task(2, 0, attempt))
        assert (time.monotonic() - started >= 0.3) is stalls
    started = time.monotonic()
    faults.before_task(_task(2, 1, 1), released=lambda job_id: True)
    assert time.monotonic() - started < 0.2


@pytest.mark.parametrize(
    "spec", ["crash:stage=1", "fail:stage=x", "fail:stage", "fail:colour=red", "stall:stage=1"]
)
def test_bad_specs_are_refused_at_startup(spec: str) -> None:
    with pytest.raises(ValueError, match="fault injection"):
        parse(spec)
    with pytest.raises(ValueError, match="fault injection"):
        ExecutorConfig(fault_injection=spec)
