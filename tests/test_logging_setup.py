"""Log lines: JSON objects with the job id of the job they concern, or text that names it."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from ballista_flight.logging_setup import job_context, setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_the_job_id_from_the_context(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("info", "json", role="scheduler", stream=stream)
    log = logging.getLogger("ballista_flight.test")
    log.info("outside any job")
    with job_context("job-1"):
        log.warning("inside %s", "job-1", extra={"stage_id": 3})
        other: list[None] = []
        # A thread starts with a fresh context: it must set its own job.
        thread = threading.Thread(target=lambda: (log.info("other thread"), other.append(None)))
        thread.start()
        thread.join()
    try:
        raise ValueError("boom")
    except ValueError:
        with job_context("job-2"):
            log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "outside any job",
        "inside job-1",
        "other thread",
        "failed",
    ]
    assert [line.get("job_id") for line in lines] == [None, "job-1", None, "job-2"]
    assert lines[1]["level"] == "warning"
    assert lines[1]["stage_id"] == 3
    assert lines[1]["role"] == "scheduler"
    assert lines[1]["logger"] == "ballista_flight.test"
    assert lines[1]["ts"].endswith("Z")
    assert "ValueError: boom" in lines[3]["exception"]


def test_text_lines_name_the_job(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("debug", "text", stream=stream)
    with job_context("abc"):
        logging.getLogger("x").debug("hello")
    logging.getLogger("x").debug("bye")
    first, second = stream.getvalue().splitlines()
    assert first.endswith("x: hello [job abc]")
    assert second.endswith("x: bye")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        setup_logging("info", "xml")
