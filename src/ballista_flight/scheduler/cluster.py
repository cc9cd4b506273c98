"""The scheduler's view of its executors: membership, liveness and free slots."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from ballista_flight._version import DATAFUSION_VERSION
from ballista_flight.errors import ExecutorUnavailable, TicketError
from ballista_flight.proto import ballista_flight_pb2 as pb

log = logging.getLogger("ballista_flight.scheduler")


@dataclass
class ExecutorInfo:
    """A registered executor."""

    executor_id: str
    uri: str
    slots: int
    shuffle_mode: str
    free: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    tasks_done: int = 0
    registered_at: float = field(default_factory=time.time)
    # from the latest heartbeat: load and shuffle store of the executor
    running_tasks: int = 0
    shuffle_bytes: int = 0
    memory_bytes: int = 0
    spilled_bytes: int = 0


class VersionMismatch(TicketError):
    """An executor runs another DataFusion than the scheduler."""


class Cluster:
    """Registered executors and their free task slots."""

    def __init__(self, heartbeat_timeout_s: float) -> None:
        self._timeout = heartbeat_timeout_s
        self._cond = threading.Condition()
        self._executors: dict[str, ExecutorInfo] = {}
        self._rr = itertools.count()
        self._seq = itertools.count()
        # acquire() calls in line for a slot, best first: (priority, arrival)
        self._queue: list[tuple[tuple[float, ...], int]] = []
        self.waiting = 0  # acquire() calls blocked for a slot

    def register(self, reg: pb.ExecutorRegistration) -> ExecutorInfo:
        """Admit an executor; refuse one running another DataFusion version."""
        if reg.datafusion_version != DATAFUSION_VERSION:
            msg = (
                f"executor {reg.executor_id} runs datafusion {reg.datafusion_version or '?'} but "
                f"this cluster runs datafusion {DATAFUSION_VERSION}; every process must run the same "
                "version"
            )
            raise VersionMismatch(msg)
        if reg.slots < 1 or not reg.uri:
            msg = "executor registration needs a URI and at least one slot"
            raise ValueError(msg)
        with self._cond:
            old = self._executors.get(reg.executor_id)
            busy = (old.slots - old.free) if old else 0
            info = ExecutorInfo(reg.executor_id, reg.uri, reg.slots, reg.shuffle_mode, free=reg.slots - busy)
            self._executors[reg.executor_id] = info
            self._cond.notify_all()
        log.info("executor %s registered at %s with %d slots", reg.executor_id, reg.uri, reg.slots)
        return info

    def heartbeat(self, beat: pb.Heartbeat) -> bool:
        """Note that an executor is alive; False if it is unknown (must re-register)."""
        with self._cond:
            info = self._executors.get(beat.executor_id)
            if info is None:
                return False
            info.last_seen = time.monotonic()
            info.running_tasks = beat.running_tasks
            info.shuffle_bytes = beat.shuffle_bytes
            info.memory_bytes = beat.memory_bytes
            info.spilled_bytes = beat.spilled_bytes
            return True

    def reap(self) -> list[ExecutorInfo]:
        """Forget executors whose heartbeats stopped; return them."""
        cutoff = time.monotonic() - self._timeout
        with self._cond:
            lost = [e for e in self._executors.values() if e.last_seen < cutoff]
            for info in lost:
                del self._executors[info.executor_id]
                log.warning("executor %s lost: no heartbeat for %.0fs", info.executor_id, self._timeout)
            if lost:
                self._cond.notify_all()
        return lost

    def remove(self, executor_id: str) -> None:
        """Forget an executor (it failed a call)."""
        with self._cond:
            self._executors.pop(executor_id, None)
            self._cond.notify_all()

    def executors(self) -> list[ExecutorInfo]:
        """Live executors, in registration order."""
        with self._cond:
            return list(self._executors.values())

    def total_slots(self) -> int:
        """Slots over all live executors."""
        with self._cond:
            return sum(e.slots for e in self._executors.values())

    def wait_for_executors(self, timeout: float) -> None:
        """Block until at least one executor is registered."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._executors:
                left = deadline - time.monotonic()
                if left <= 0:
                    msg = f"no executors registered with the scheduler after {timeout:.0f}s"
                    raise ExecutorUnavailable(msg)
                self._cond.wait(left)

    def acquire(
        self,
        timeout: float,
        prefer: str | None = None,
        avoid: set[str] | None = None,
        priority: tuple[float, ...] = (),
    ) -> ExecutorInfo:
        """Take a free slot, preferring ``prefer``, else the least busy executor.

        Callers are served in ``priority`` order (lowest first), then in arrival
        order: a slot that frees up goes to the task that matters most, not to
        whichever waiting thread the OS wakes first. Executors in ``avoid`` (where
        a retried task failed before) are taken only when no other executor has a
        free slot.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            key = (priority, next(self._seq))
            heapq.heappush(self._queue, key)
            self.waiting += 1
            try:
                return self._acquire(deadline, timeout, prefer, avoid or set(), key)
            finally:
                self.waiting -= 1
                self._queue.remove(key)
                heapq.heapify(self._queue)
                self._cond.notify_all()  # the next in line may go

    def _acquire(
        self,
        deadline: float,
        timeout: float,
        prefer: str | None,
        avoid: set[str],
        key: tuple[tuple[float, ...], int],
    ) -> ExecutorInfo:
        with self._cond:
            while True:
                candidates = [e for e in self._executors.values() if e.free > 0]
                others = [e for e in candidates if e.executor_id not in avoid]
                candidates = others or candidates
                if candidates and self._queue[0] == key:
                    chosen = next((e for e in candidates if e.executor_id == prefer), None)
                    if chosen is None:
                        start = next(self._rr)
                        ordered = (
                            candidates[start % len(candidates) :] + candidates[: start % len(candidates)]
                        )
                        chosen = max(ordered, key=lambda e: e.free / e.slots)
                    chosen.free -= 1
                    return chosen
                left = deadline - time.monotonic()
                if left <= 0:
                    what = "no executors registered" if not self._executors else "no free executor slot"
                    msg = f"{what} after waiting {timeout:.0f}s"
                    raise ExecutorUnavailable(msg)
                self._cond.wait(min(left, 1.0))

    def release(self, info: ExecutorInfo) -> None:
        """Give back a slot taken with ``acquire``."""
        with self._cond:
            current = self._executors.get(info.executor_id)
            if current is not None:
                current.free = min(current.slots, current.free + 1)
                current.tasks_done += 1
                self._cond.notify_all()
