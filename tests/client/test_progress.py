"""The client's progress: read from job_status JSON, drawn as one terminal line."""

from __future__ import annotations

import io
import json
import sys

import pytest
from google.protobuf.json_format import MessageToDict

from ballista_flight.client.progress import NotebookProgress, Progress, TextProgress, format_line
from ballista_flight.proto import ballista_flight_pb2 as pb


def _status(done: int) -> dict[str, object]:
    status = pb.JobStatus(
        job_id="j1",
        state=pb.JOB_RUNNING,
        stages=[
            pb.StageStatus(stage_id=0, tasks=4, tasks_done=4, rows=1000),
            pb.StageStatus(stage_id=1, tasks=4, tasks_done=done),
            pb.StageStatus(stage_id=2, tasks=1, tasks_done=0),
        ],
        tasks=9,
        tasks_done=4 + done,
        rows_shuffled=1_234_567,
        bytes_shuffled=3 * 2**20,
        elapsed_s=2.5,
    )
    # What the job_status action sends: protobuf JSON (64-bit integers as strings).
    return json.loads(json.dumps(MessageToDict(status)))  # type: ignore[no-any-return]


def test_progress_from_job_status_json() -> None:
    p = Progress.from_status(_status(2))
    assert p == Progress("j1", "running", 1, 3, 6, 9, 1_234_567, 3 * 2**20, 2.5)
    assert p.fraction == 6 / 9
    assert not p.finished
    assert format_line(p, width=9) == (
        "[######---] stages 1/3 · tasks 6/9 · 1,234,567 rows · 3.0 MiB shuffled · 2.5s"
    )


def test_text_bar_redraws_in_place_and_erases_itself() -> None:
    out = io.StringIO()
    bar = TextProgress(out, delay_s=0.0)
    bar(Progress.from_status(_status(1)))
    bar(Progress.from_status(_status(1)))  # unchanged: not drawn again
    bar(Progress.from_status(_status(4)))
    bar.close()
    text = out.getvalue()
    assert text.count("\r\x1b[K[") == 2
    assert "tasks 5/9" in text
    assert "tasks 8/9" in text
    assert text.endswith("\r\x1b[K")
    assert "\n" not in text


def test_quiet_for_fast_statements() -> None:
    out = io.StringIO()
    bar = TextProgress(out, delay_s=60.0)
    bar(Progress.from_status(_status(1)))
    bar.close()
    assert out.getvalue() == ""


def test_notebook_bar_falls_back_to_text_without_ipywidgets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # importing it fails
    bar = NotebookProgress()
    bar(Progress.from_status(_status(1)))
    bar.close()
    out = capsys.readouterr().out
    assert "tasks 5/9" in out
    assert out.endswith("\n")
