"""Where an executor keeps shuffle partitions until their consumers fetch them.

One store serves both modes: ``memory`` keeps record batches in the process
under a byte budget and spills whole partitions to Arrow IPC stream files past it;
``disk`` is the same store with a budget of zero. Partitions are read out as
``RecordBatchReader``s, which ``shuffle.framing`` streams batch by batch.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa

from ballista_flight.errors import ShuffleError

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger("ballista_flight.shuffle")


def write_ipc(path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
    """``batches`` as an Arrow IPC file at ``path``, as the store and the executors' landed
    inputs keep them: the stream format, not the file format, as it allows a new dictionary
    per batch (DataFusion builds one per batch)."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def read_mapped(path: Path) -> pa.Table:
    """The batches of a file ``write_ipc`` wrote, memory-mapped: nothing is copied."""
    return pa.ipc.open_stream(pa.memory_map(str(path))).read_all()


class PartitionKey(NamedTuple):
    """A shuffle partition: bucket ``bucket`` of task ``map_partition`` of a stage."""

    job_id: str
    stage_id: int
    map_partition: int
    bucket: int


@dataclass
class _Stored:
    schema: pa.Schema
    nbytes: int
    batches: list[pa.RecordBatch] | None = None  # in memory
    path: Path | None = None  # on disk


@dataclass
class _Job:
    created: float = field(default_factory=time.monotonic)
    keys: set[PartitionKey] = field(default_factory=set)


class ShuffleStore:
    """Shuffle partitions of all jobs on one executor."""

    def __init__(self, work_dir: Path, memory_limit: int) -> None:
        self._dir = work_dir
        self._limit = memory_limit
        self._lock = threading.Lock()
        self._parts: dict[PartitionKey, _Stored] = {}
        self._jobs: dict[str, _Job] = {}
        self._releasing: set[str] = set()  # still deleting files: reported as held
        self._released: dict[str, float] = {}
        self.memory_bytes = 0
        self.disk_bytes = 0
        self.spilled_bytes = 0

    def put(self, key: PartitionKey, schema: pa.Schema, batches: list[pa.RecordBatch]) -> int:
        """Keep ``batches`` as partition ``key``; return its size in bytes."""
        nbytes = int(sum(b.nbytes for b in batches))
        with self._lock:
            if key.job_id in self._released:
                msg = f"job {key.job_id} was already released"
                raise ShuffleError(msg)
            in_memory = self.memory_bytes + nbytes <= self._limit
            if in_memory:
                self.memory_bytes += nbytes
            self._jobs.setdefault(key.job_id, _Job()).keys.add(key)
        if in_memory:
            stored = _Stored(schema, nbytes, batches=batches)
        else:
            stored = _Stored(schema, nbytes, path=self._write(key, schema, batches))
        with self._lock:
            old = self._parts.pop(key, None)
            self._parts[key] = stored
            if not in_memory:
                self.disk_bytes += nbytes
                self.spilled_bytes += nbytes if self._limit > 0 else 0
        if old is not None:
            self._drop(old)
        return nbytes

    def _write(self, key: PartitionKey, schema: pa.Schema, batches: list[pa.RecordBatch]) -> Path:
        directory = self._dir / key.job_id / str(key.stage_id)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{key.map_partition}-{key.bucket}.arrows"
        tmp = path.with_suffix(".tmp")
        write_ipc(tmp, schema, batches)
        tmp.rename(path)
        return path

    def read(self, key: PartitionKey) -> pa.RecordBatchReader:
        """A reader over partition ``key``; raise ``ShuffleError`` if it is not here."""
        with self._lock:
            stored = self._parts.get(key)
            released = key.job_id in self._released
        if stored is None:
            if released:
                msg = f"job {key.job_id} has finished and its shuffle data was released"
            else:
                msg = (
                    f"shuffle partition not found: job {key.job_id} stage {key.stage_id} "
                    f"task {key.map_partition} bucket {key.bucket}"
                )
            raise ShuffleError(msg)
        if stored.batches is not None:
            return pa.Table.from_batches(stored.batches, stored.schema).to_reader()
        assert stored.path is not None
        try:
            return read_mapped(stored.path).to_reader()
        except FileNotFoundError as exc:
            msg = f"shuffle file vanished: {stored.path}"
            raise ShuffleError(msg) from exc

    @property
    def directory(self) -> Path:
        """Root of this store's files."""
        return self._dir

    def locate(self, key: PartitionKey) -> tuple[pa.RecordBatchReader | None, Path | None]:
        """A partition's file if it is on disk, else a reader over its batches."""
        with self._lock:
            stored = self._parts.get(key)
        if stored is not None and stored.path is not None:
            return None, stored.path
        return self.read(key), None

    def is_released(self, job_id: str) -> bool:
        """Whether ``job_id`` finished and its data was dropped."""
        with self._lock:
            return job_id in self._released

    def release_job(self, job_id: str) -> int:
        """Drop every partition of ``job_id``; return the bytes freed."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
            self._releasing.add(job_id)
            self._released[job_id] = time.monotonic()
            if len(self._released) > 10_000:
                oldest = sorted(self._released, key=self._released.__getitem__)[:1000]
                for old in oldest:
                    self._released.pop(old, None)
            dropped = [self._parts.pop(k) for k in (job.keys if job else ()) if k in self._parts]
        freed = 0
        try:
            for stored in dropped:
                freed += stored.nbytes
                self._drop(stored)
            shutil.rmtree(self._dir / job_id, ignore_errors=True)
        finally:
            with self._lock:
                self._releasing.discard(job_id)
        if freed:
            log.debug("released job %s: %d bytes", job_id, freed)
        return freed

    def _drop(self, stored: _Stored) -> None:
        with self._lock:
            if stored.batches is not None:
                self.memory_bytes -= stored.nbytes
            else:
                self.disk_bytes -= stored.nbytes
        if stored.path is not None:
            stored.path.unlink(missing_ok=True)

    def expire(self, ttl_s: float) -> list[str]:
        """Release jobs older than ``ttl_s``; return their ids."""
        cutoff = time.monotonic() - ttl_s
        with self._lock:
            old = [job_id for job_id, job in self._jobs.items() if job.created < cutoff]
        for job_id in old:
            log.info("releasing job %s: no word from the scheduler within its TTL", job_id)
            self.release_job(job_id)
        return old

    def jobs(self) -> list[str]:
        """Ids of the jobs holding data here (including those whose files are being deleted)."""
        with self._lock:
            return list(self._jobs) + sorted(self._releasing - self._jobs.keys())

    def close(self) -> None:
        """Drop everything, including files."""
        for job_id in self.jobs():
            self.release_job(job_id)
