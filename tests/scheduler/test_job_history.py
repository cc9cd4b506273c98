"""The scheduler's job table: client-chosen job ids, bounded history of finished jobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ballista_flight.config import SchedulerConfig
from ballista_flight.errors import PlanningError
from ballista_flight.proto import ballista_flight_pb2 as pb
from ballista_flight.scheduler.cluster import Cluster
from ballista_flight.scheduler.jobs import JobManager


@pytest.fixture
def manager() -> Iterator[JobManager]:
    jobs = JobManager(SchedulerConfig(job_history=3), Cluster(15.0), b"secret", "grpc://127.0.0.1:1")
    yield jobs
    jobs.close()


def test_a_client_may_name_its_job(manager: JobManager) -> None:
    submitted = manager.submit("SHOW TABLES", job_id="my-query.1")
    assert submitted.job_id == "my-query.1"
    assert manager.job("my-query.1").status().state == pb.JOB_RESULTS_READY
    with pytest.raises(PlanningError, match="already in use"):
        manager.submit("SHOW TABLES", job_id="my-query.1")
    with pytest.raises(PlanningError, match="job id"):
        manager.submit("SHOW TABLES", job_id="no spaces!")


def test_finished_jobs_are_kept_up_to_the_configured_history(manager: JobManager) -> None:
    ids = []
    for _ in range(5):
        job_id = manager.submit("SHOW TABLES").job_id
        manager.local_result(job_id)  # fetched: the job succeeded
        ids.append(job_id)
    with pytest.raises(PlanningError):
        manager.submit("SELECT * FROM missing", job_id="bad")
    pending = manager.submit("SHOW TABLES").job_id  # not finished: never dropped
    manager.expire()
    kept = {j.job_id for j in manager.jobs()}
    assert kept == {*ids[-2:], "bad", pending}
    failed = manager.job("bad").status()
    assert failed.state == pb.JOB_FAILED
    assert "missing" in failed.error
    assert manager.stats.jobs_finished == {"succeeded": 5, "failed": 1}
