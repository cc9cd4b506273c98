"""The shuffle store: memory budget, spilling, disk mode, release and TTL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from ballista_flight.errors import ShuffleError
from ballista_flight.shuffle.store import PartitionKey, ShuffleStore

if TYPE_CHECKING:
    from pathlib import Path


def batches(n: int, rows: int = 1000) -> list[pa.RecordBatch]:
    return [
        pa.record_batch({"k": pa.array(range(i * rows, (i + 1) * rows)), "s": ["x" * 10] * rows})
        for i in range(n)
    ]


def files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_memory_store_serves_what_was_put_and_releases_it(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=1 << 30)
    data = batches(3)
    key = PartitionKey("job", 1, 0, 2)
    size = store.put(key, data[0].schema, data)
    assert size == store.memory_bytes > 0
    assert store.read(key).read_all().equals(pa.Table.from_batches(data))
    assert files(tmp_path) == []
    assert store.release_job("job") == size
    assert store.memory_bytes == 0
    with pytest.raises(ShuffleError, match="finished"):
        store.read(key)
    with pytest.raises(ShuffleError, match="released"):
        store.put(key, data[0].schema, data)


def test_memory_budget_spills_to_disk(tmp_path: Path) -> None:
    data = batches(2)
    one = sum(b.nbytes for b in data)
    store = ShuffleStore(tmp_path, memory_limit=one + one // 2)
    store.put(PartitionKey("job", 0, 0, 0), data[0].schema, data)
    store.put(PartitionKey("job", 0, 1, 0), data[0].schema, data)
    assert store.memory_bytes == one
    assert store.spilled_bytes == one
    assert len(files(tmp_path)) == 1
    for task in (0, 1):
        assert store.read(PartitionKey("job", 0, task, 0)).read_all().num_rows == 2000
    store.release_job("job")
    assert files(tmp_path) == []
    assert store.memory_bytes == store.disk_bytes == 0


def test_disk_mode_writes_ipc_files(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=0)
    data = batches(2)
    key = PartitionKey("j2", 3, 1, 0)
    store.put(key, data[0].schema, data)
    assert store.memory_bytes == 0
    assert len(files(tmp_path)) == 1
    reader, path = store.locate(key)
    assert reader is None
    assert path is not None
    assert path.exists()
    got = store.read(key).read_all()
    assert got.schema == data[0].schema
    assert got.equals(pa.Table.from_batches(data))


def test_a_dictionary_per_batch_survives_the_disk(tmp_path: Path) -> None:
    """A map task's batches each carry their own dictionary (DataFusion builds one per batch)."""
    store = ShuffleStore(tmp_path, memory_limit=0)
    data = [
        pa.record_batch({"d": pa.array([f"v{(i + shift) % 7}" for i in range(100)]).dictionary_encode()})
        for shift in (0, 3)
    ]
    assert not data[0].column(0).dictionary.equals(data[1].column(0).dictionary)
    key = PartitionKey("j3", 0, 0, 0)
    store.put(key, data[0].schema, data)
    assert store.read(key).read_all().equals(pa.Table.from_batches(data))


def test_missing_partition_and_ttl(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=0)
    with pytest.raises(ShuffleError, match="not found"):
        store.read(PartitionKey("nope", 0, 0, 0))
    data = batches(1)
    store.put(PartitionKey("old", 0, 0, 0), data[0].schema, data)
    assert store.expire(ttl_s=3600) == []
    assert store.expire(ttl_s=0) == ["old"]
    assert files(tmp_path) == []
