"""Distributed writes: COPY ... TO and INSERT INTO, each final task writing its own files.

DataFusion plans a write as ``DataSinkExec`` over a ``CoalescePartitionsExec``:
one writer for the whole result. Distributed, the coalesce is dropped and every
task of the final stage runs the ``DataSinkExec`` over its own partition, so the
executors write in parallel. Tasks write under a temporary directory beside the
target (one sub-directory per task attempt, named after the task and its
executor); the scheduler moves the files of the successful attempts into the
target only once every task succeeded, so a failed job leaves nothing there.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ballista_flight.errors import PlanningError
from ballista_flight.plan.protowire import replace_submessage, strings

if TYPE_CHECKING:
    from collections.abc import Callable

    from ballista_flight.plan.physical import PlanNode

# File sinks whose plan bytes carry their target and decode on an executor.
FILE_SINKS = ("sink=ParquetSink", "sink=CsvSink", "sink=JsonSink")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*(/.*)?$")


@dataclass
class SinkPlan:
    """The write at the root of a plan, minus its input."""

    template: bytes  # DataSinkExec with its input replaced by ``placeholder``
    placeholder: bytes
    url: str  # the target as the plan spells it (file:///dir/, s3://bucket/key)
    single_file: bool  # the target names one file: one task writes it
    # DataSinkExec over the coalesce over ``placeholder``: a task whose plan holds only
    # its own share of the rows (whole-stage) runs all its partitions straight into it.
    whole: bytes = b""


def target_urls(sink: bytes) -> list[str]:
    """URLs with a path in a sink's encoding (its table paths; not the object store's root)."""
    found = []
    for text in strings(sink):
        match = _URL.match(text)
        if match and (match.group(1) or "/") != "/" and text not in found:
            found.append(text)
    return found


def is_single_file(url: str) -> bool:
    """Whether DataFusion writes ``url`` as one file: no trailing slash, and an extension."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return not url.endswith("/") and "." in name.strip(".")


def split_sink(root: PlanNode, placeholder: Callable[[str], bytes]) -> tuple[SinkPlan, PlanNode] | None:
    """The file write at ``root`` and the query that feeds it, or None if ``root`` writes nothing.

    The query keeps its partitions (the coalesce above it is dropped) unless the
    target is a single file.
    """
    if root.name != "DataSinkExec" or not any(s in root.detail for s in FILE_SINKS):
        return None
    child = root.children[0]
    ph = placeholder("sink")
    template = replace_submessage(root.data, child.data, ph)
    urls = target_urls(template)
    if len(urls) != 1:
        msg = f"cannot write in parallel to {len(urls)} locations: {urls}"
        raise PlanningError(msg)
    single = is_single_file(urls[0])
    query, whole = child, b""
    if not single and child.name == "CoalescePartitionsExec" and child.children:
        query = child.children[0]
        whole = replace_submessage(root.data, query.data, ph)
    return SinkPlan(template, ph, urls[0], single, whole), query


def temporary_url(url: str, job_id: str) -> str:
    """A hidden directory beside the target where a job's tasks write (ends with '/')."""
    trimmed = url.rstrip("/")
    parent, name = trimmed.rsplit("/", 1)
    if parent.endswith(":/"):  # the target is a bucket or the root itself
        parent, name = trimmed, ""
    return f"{parent}/.{name}.ballista-{job_id}/" if name else f"{parent}/.ballista-{job_id}/"


def task_dir(task: int, attempt: int, executor_id: str) -> str:
    """The directory one task attempt writes into; its name prefixes the published files."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", executor_id)
    return f"part-{task:05d}-{attempt}-{safe}"


def task_url(write_dir: str, directory: str, target: str, single_file: bool) -> str:
    """The URL a task's sink writes to: its directory, or the target's file name inside it."""
    base = f"{write_dir}{directory}/"
    return base + target.rstrip("/").rsplit("/", 1)[-1] if single_file else base


def published_path(relative: str, directory: str, target: str, single_file: bool) -> str:
    """Where a file written at ``relative`` inside a task's directory is published.

    Files keep their partition sub-directories (``col=value/``) and get the
    task's directory name as a prefix, so parallel writers never collide and a
    file tells which task and executor wrote it.
    """
    if single_file:
        parent = target.rstrip("/").rsplit("/", 1)[0]
        return f"{parent}/{relative}"
    sub, name = posixpath.split(relative)
    prefix = target.rstrip("/") + "/" + (sub + "/" if sub else "")
    return f"{prefix}{directory}-{name}"
