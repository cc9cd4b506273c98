"""Flight streams whose record batch bodies arrive 64-byte aligned.

A Flight data message is the protobuf ``FlightData``: ``data_header`` (field 2,
the IPC metadata), ``app_metadata`` (3) and ``data_body`` (1000), in that order
on the wire. pyarrow's client leaves the body where it lies in the received
message; a message larger than gRPC's read buffer (about 100 KB, as shuffle
batches are) is gathered into one aligned buffer first, so the body's buffers
are aligned when the body's offset in the message is, and a plain stream puts
it at an arbitrary one. (A small message lies in gRPC's buffer at any address.)
DataFusion needs aligned buffers (arrow-rs copies a misaligned buffer whole each
time a slice of it crosses into Rust), so consumers ask pyarrow to copy
misaligned buffers on arrival (``executor.inputs.FETCH_OPTIONS``): a copy of
everything moved. Padding ``app_metadata`` with a few bytes so that the body
starts on a multiple of 64 makes that copy find nothing to do, and puts 16-byte
values (decimals) where arrow-rs wants them whenever the buffers before them
are multiples of 16 long, as in batches of a round number of rows (pyarrow's
own check asks only 8 of them: ``executor.inputs.aligned_for_rust`` copies the
rest).

Only the offset of the body is computed here, from sizes pyarrow reports
without serializing the batch; if a guess is off, the receiver's copy still
aligns the batch, so a wrong pad costs time, never correctness.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa
from pyarrow import flight

from ballista_flight.arrowtypes import holds

ALIGNMENT = 64
_HEADER_TAG = 1  # field 2, length-delimited: one byte
_METADATA_TAG = 1  # field 3
_BODY_TAG = 2  # field 1000: two bytes
_BUFFER_ENTRY = 16  # one Buffer struct in the IPC metadata's flatbuffer
_PREFIX = 8  # continuation marker and length that get_record_batch_size counts
_PADS = [pa.py_buffer(bytes(n)) for n in range(ALIGNMENT + 8)]


def varint_len(n: int) -> int:
    """Bytes protobuf uses to write ``n`` as a varint."""
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def body_offset(header: int, metadata: int, body: int) -> int:
    """Offset of ``data_body`` in a FlightData message of these field sizes (no descriptor)."""
    offset = _HEADER_TAG + varint_len(header) + header
    if metadata:
        offset += _METADATA_TAG + varint_len(metadata) + metadata
    return offset + _BODY_TAG + varint_len(body)


def padding(header: int, body: int) -> int:
    """Length of ``app_metadata`` that puts a body of ``body`` bytes on an aligned offset."""
    for metadata in range(len(_PADS)):
        if body_offset(header, metadata, body) % ALIGNMENT == 0:
            return metadata
    raise AssertionError("some padding up to the alignment and a varint's growth fits")  # pragma: no cover


def _buffer_count(batch: pa.RecordBatch) -> int:
    return sum(len(column.buffers()) for column in batch.columns)


def _header_size(batch: pa.RecordBatch) -> int:
    serialized = batch.serialize()
    return int.from_bytes(serialized[4:8].to_pybytes(), "little", signed=True)


class BodyAligner:
    """Pads for the batches of one schema.

    The IPC metadata of a non-empty batch has the same size for every batch of a
    schema but for one 16-byte entry per buffer, which only view columns vary
    (their variadic data buffers): it is measured once, on a one-row batch of
    nulls, and adjusted by the buffer count.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self._usable = len(schema) > 0
        if not self._usable:
            return
        try:
            reference = pa.record_batch([pa.nulls(1, field.type) for field in schema], schema=schema)
        except pa.ArrowException:  # a type without nulls to measure: sent unpadded, still correct
            self._usable = False
            return
        self._header = _header_size(reference)
        self._buffers = _buffer_count(reference)

    def pad(self, batch: pa.RecordBatch) -> pa.Buffer | None:
        """The ``app_metadata`` to send ``batch`` with, or None for none."""
        if not self._usable or batch.num_rows == 0:
            return None
        header = self._header + _BUFFER_ENTRY * (_buffer_count(batch) - self._buffers)
        body = pa.ipc.get_record_batch_size(batch) - _PREFIX - header
        size = padding(header, body)
        return _PADS[size] if size else None


def aligned_batches(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> Iterator[tuple[pa.RecordBatch, pa.Buffer | None]]:
    """``batches`` with the padding that lands each one's body aligned."""
    aligner = BodyAligner(schema)
    for batch in batches:
        yield batch, aligner.pad(batch)


def _has_dictionary(schema: pa.Schema) -> bool:
    """Whether some column of ``schema`` is, or holds, a dictionary: pyarrow's GeneratorStream
    sends no dictionary messages, so such a stream must go through a RecordBatchStream."""
    return any(holds(field.type, pa.types.is_dictionary) for field in schema)


def aligned_stream(reader: pa.RecordBatchReader) -> flight.FlightDataStream:
    """A DoGet stream of ``reader``'s batches, each body arriving aligned (a schema with
    dictionaries is streamed as it is: the receiver's copy aligns it)."""
    if _has_dictionary(reader.schema):
        return flight.RecordBatchStream(reader)
    return flight.GeneratorStream(reader.schema, aligned_batches(reader.schema, reader))


def generated_stream(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> flight.FlightDataStream:
    """A DoGet stream of batches a Python generator makes: a GeneratorStream, or for a schema
    with dictionaries a RecordBatchStream over a reader of the same generator."""
    if _has_dictionary(schema):
        return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(schema, batches))
    return flight.GeneratorStream(schema, batches)
