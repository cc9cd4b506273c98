"""Deterministic fault injection for tests: make chosen tasks fail or stall.

Off unless an executor is started with ``--fault-injection SPEC`` (env
``BALLISTA_FLIGHT_FAULT_INJECTION``). The executor consults it once per task,
before the task starts (never per batch), so production's query path carries
nothing but a ``None`` check. A spec is ``;``-separated rules, each
``ACTION:key=value,...``:

- ``fail:stage=1,partition=0,times=2`` fails the first two attempts of task 0 of
  stage 1 (attempts are numbered by the scheduler from 1): it fails twice, then runs.
- ``stall:stage=2,seconds=5,times=1`` sleeps 5 s before the first attempt of any
  task of stage 2 starts (holding the stage while a test kills a process).

Filters, all optional (a rule without filters matches every task): ``stage``,
``partition``, ``executor`` (this executor's id), ``match`` (a substring of the
task's plan bytes: a literal or a path only one test query contains, so other
queries on the same cluster are untouched), ``times`` (attempts affected;
default all). Decisions depend only on the task ticket, so they are the same on
every executor and on every run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ballista_flight.errors import TaskFailed
from ballista_flight.proto import ballista_flight_pb2 as pb

log = logging.getLogger("ballista_flight.executor")

_ACTIONS = {"fail", "stall"}
_INT_KEYS = {"stage", "partition", "times"}
_KEYS = _INT_KEYS | {"executor", "match", "seconds"}


class InjectedFault(TaskFailed):
    """A failure made on purpose by ``--fault-injection``."""


@dataclass(frozen=True)
class Rule:
    """One rule of a fault-injection spec."""

    action: str
    stage: int | None = None
    partition: int | None = None
    executor: str | None = None
    match: bytes | None = None
    times: int | None = None
    seconds: float = 0.0

    def matches(self, task: pb.TaskTicket, executor_id: str) -> bool:
        """Whether this rule applies to ``task`` running on ``executor_id``."""
        return (
            (self.stage is None or task.stage_id == self.stage)
            and (self.partition is None or task.partition == self.partition)
            and (self.executor is None or executor_id == self.executor)
            and (self.times is None or max(task.attempt, 1) <= self.times)
            and (self.match is None or self.match in task.plan)
        )


def _rule(text: str) -> Rule:
    action, _, body = text.partition(":")
    action = action.strip().lower()
    if action not in _ACTIONS:
        msg = f"fault injection: unknown action {action!r} in {text!r} (use fail or stall)"
        raise ValueError(msg)
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            msg = f"fault injection: bad item {item!r} in {text!r} (keys: {', '.join(sorted(_KEYS))})"
            raise ValueError(msg)
        values[key] = value.strip()
    try:
        ints = {k: int(v) for k, v in values.items() if k in _INT_KEYS}
        seconds = float(values.get("seconds", "0"))
    except ValueError as exc:
        msg = f"fault injection: not a number in {text!r}"
        raise ValueError(msg) from exc
    if action == "stall" and seconds <= 0:
        msg = f"fault injection: stall needs seconds=N in {text!r}"
        raise ValueError(msg)
    match = values.get("match")
    return Rule(
        action=action,
        stage=ints.get("stage"),
        partition=ints.get("partition"),
        executor=values.get("executor"),
        match=match.encode() if match else None,
        times=ints.get("times"),
        seconds=seconds,
    )


def parse(spec: str) -> list[Rule]:
    """The rules of ``spec`` (empty: none); ``ValueError`` says what is wrong."""
    return [_rule(part) for part in spec.split(";") if part.strip()]


class FaultInjector:
    """Applies a spec's rules to tasks as they start."""

    def __init__(self, rules: list[Rule], executor_id: str) -> None:
        self.rules = rules
        self.executor_id = executor_id

    def before_task(self, task: pb.TaskTicket, released: Callable[[str], bool] = lambda _: False) -> None:
        """Stall and/or fail ``task`` as the rules say; a stall ends early once the job is released."""
        for rule in self.rules:
            if not rule.matches(task, self.executor_id):
                continue
            where = f"stage {task.stage_id} task {task.partition} attempt {task.attempt}"
            if rule.action == "stall":
                log.warning("fault injection: stalling %s for %.1fs", where, rule.seconds)
                deadline = time.monotonic() + rule.seconds
                while time.monotonic() < deadline and not released(task.job_id):
                    time.sleep(0.05)
            else:
                msg = f"injected fault ({where})"
                raise InjectedFault(msg)


def injector(spec: str, executor_id: str) -> FaultInjector | None:
    """An injector for ``spec``, or None when fault injection is off."""
    rules = parse(spec)
    return FaultInjector(rules, executor_id) if rules else None
