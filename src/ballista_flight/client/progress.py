"""Live progress of a query: polling ``job_status`` beside the running call, and two renderers.

``GetFlightInfo`` blocks until the map stages are done, so the client names
the job itself (header ``x-ballista-job-id``, see ``scheduler/progress.py``)
and a background thread polls the scheduler's ``job_status`` action with that
id, calling a callback with a :class:`Progress` whenever something moved.
Renderers: :class:`TextProgress` (a one-line bar redrawn with ``\\r`` on a
terminal) and :class:`NotebookProgress` (an ipywidgets bar in Jupyter, or the
text bar when ipywidgets is not installed).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from pyarrow import flight

if TYPE_CHECKING:
    from collections.abc import Callable

JOB_ID_HEADER = b"x-ballista-job-id"
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Progress:
    """Where a query stands."""

    job_id: str
    state: str
    stages_done: int
    stages: int
    tasks_done: int
    tasks: int
    rows_shuffled: int
    bytes_shuffled: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        """Share of tasks done (0 before planning finished)."""
        return self.tasks_done / self.tasks if self.tasks else 0.0

    @property
    def finished(self) -> bool:
        """Whether the job is over."""
        return self.state in FINISHED

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> Progress:
        """From the JSON of the ``job_status`` action (protobuf JSON: camelCase, 64-bit ints as strings)."""
        stages = status.get("stages", [])
        return cls(
            job_id=str(status.get("jobId", "")),
            state=str(status.get("state", "JOB_QUEUED")).removeprefix("JOB_").lower(),
            stages_done=sum(1 for s in stages if int(s.get("tasksDone", 0)) >= int(s.get("tasks", 0))),
            stages=len(stages),
            tasks_done=int(status.get("tasksDone", 0)),
            tasks=int(status.get("tasks", 0)),
            rows_shuffled=int(status.get("rowsShuffled", 0)),
            bytes_shuffled=int(status.get("bytesShuffled", 0)),
            elapsed_s=float(status.get("elapsedS", 0.0)),
        )


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_line(p: Progress, width: int = 24) -> str:
    """``[#######-----] stages 2/5 · tasks 12/20 · 1,234 rows · 4.5 MiB shuffled · 2.1s``."""
    filled = round(p.fraction * width)
    return (
        f"[{'#' * filled}{'-' * (width - filled)}] stages {p.stages_done}/{p.stages} · "
        f"tasks {p.tasks_done}/{p.tasks} · {p.rows_shuffled:,} rows · "
        f"{_bytes(p.bytes_shuffled)} shuffled · {p.elapsed_s:.1f}s"
    )


class TextProgress:
    """A one-line progress bar on a terminal, drawn after ``delay_s`` (fast statements stay quiet)."""

    def __init__(self, stream: TextIO | None = None, delay_s: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.delay_s = delay_s
        self._started = time.monotonic()
        self._drawn = False
        self._last = ""

    def __call__(self, progress: Progress) -> None:
        if time.monotonic() - self._started < self.delay_s:
            return
        line = format_line(progress)
        if line != self._last:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self._drawn = True
            self._last = line

    def close(self) -> None:
        """Erase the bar (the result follows in its place)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class NotebookProgress:
    """A progress bar in Jupyter (ipywidgets), else the text bar."""

    def __init__(self) -> None:
        self._text: TextProgress | None = None
        try:
            import ipywidgets  # type: ignore[import-not-found]
            from IPython.display import display  # type: ignore[import-not-found]
        except ImportError:
            self._text = TextProgress(sys.stdout, delay_s=0.0)
            return
        self._bar = ipywidgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="query")
        self._label = ipywidgets.HTML()
        display(ipywidgets.HBox([self._bar, self._label]))

    def __call__(self, progress: Progress) -> None:
        if self._text is not None:
            self._text(progress)
            return
        self._bar.value = progress.fraction
        self._bar.bar_style = {"succeeded": "success", "failed": "danger"}.get(progress.state, "")
        self._label.value = format_line(progress).split("] ", 1)[1]

    def close(self) -> None:
        """Leave the final state on screen."""
        if self._text is not None:
            self._text.stream.write("\n")


def in_notebook() -> bool:
    """Whether we run inside a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()  # type: ignore[attr-defined]
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def default_renderer() -> Callable[[Progress], None] | None:
    """A bar in Jupyter, a text bar on a terminal, else nothing."""
    if in_notebook():
        return NotebookProgress()
    if sys.stderr.isatty():
        return TextProgress()
    return None


class Poller:
    """Polls ``job_status`` for ``job_id`` every ``interval_s`` and reports changes to ``callback``."""

    def __init__(
        self,
        client: flight.FlightClient,
        options: flight.FlightCallOptions,
        job_id: str,
        callback: Callable[[Progress], None],
        interval_s: float = 0.1,
    ) -> None:
        self._client = client
        self._options = options
        self.job_id = job_id
        self._callback = callback
        self._interval = interval_s
        self._stop = threading.Event()
        self._last: Progress | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"progress-{job_id}")

    def start(self) -> Poller:
        """Start polling."""
        self._thread.start()
        return self

    def poll(self) -> Progress | None:
        """One poll; None while the scheduler does not know the job yet."""
        try:
            results = self._client.do_action(("job_status", self.job_id.encode()), self._options)
            body = next(iter(results)).body.to_pybytes()
        except (flight.FlightError, StopIteration):
            return None
        progress = Progress.from_status(json.loads(body))
        if progress != self._last:
            self._last = progress
            with contextlib.suppress(Exception):  # a broken renderer must not break the query
                self._callback(progress)
        return progress

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def stop(self, settle_s: float = 0.5) -> None:
        """Stop polling; report the job's final state (waiting up to ``settle_s`` for it)."""
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + settle_s
        while True:
            progress = self.poll()
            if (progress is not None and progress.finished) or time.monotonic() >= deadline:
                return
            time.sleep(0.05)
