"""The scheduler's slot accounting: who gets a free slot first."""

from __future__ import annotations

import threading
import time

from ballista_flight._version import DATAFUSION_VERSION
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.scheduler.cluster import Cluster


def _one_slot_cluster() -> Cluster:
    cluster = Cluster(heartbeat_timeout_s=60.0)
    cluster.register(
        pb.ExecutorRegistration(
            executor_id="e1", uri="grpc://127.0.0.1:1", slots=1, datafusion_version=DATAFUSION_VERSION
        )
    )
    return cluster


def test_freed_slots_go_to_waiters_in_priority_order() -> None:
    cluster = _one_slot_cluster()
    held = cluster.acquire(1.0)
    order: list[int] = []
    lock = threading.Lock()

    def take(priority: int) -> None:
        info = cluster.acquire(10.0, priority=(0.0, priority))
        with lock:
            order.append(priority)
        cluster.release(info)

    # Arrive worst first: arrival order alone would serve them 5, 4, 3, 2, 1.
    threads = [threading.Thread(target=take, args=(p,)) for p in (5, 4, 3, 2, 1)]
    for thread in threads:
        thread.start()
        while cluster.waiting < threads.index(thread) + 1:
            time.sleep(0.001)
    cluster.release(held)
    for thread in threads:
        thread.join(10.0)
    assert order == [1, 2, 3, 4, 5]


def test_equal_priorities_are_served_in_arrival_order() -> None:
    cluster = _one_slot_cluster()
    held = cluster.acquire(1.0)
    order: list[str] = []

    def take(name: str) -> None:
        info = cluster.acquire(10.0)
        order.append(name)
        cluster.release(info)

    threads = [threading.Thread(target=take, args=(name,)) for name in "abcd"]
    for count, thread in enumerate(threads, start=1):
        thread.start()
        while cluster.waiting < count:
            time.sleep(0.001)
    cluster.release(held)
    for thread in threads:
        thread.join(10.0)
    assert order == list("abcd")
