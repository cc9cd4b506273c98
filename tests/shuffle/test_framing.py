"""Executors' streams land record batch bodies aligned at the receiver."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pyarrow as pa
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from pyarrow import flight

from ballista_flight.shuffle.framing import ALIGNMENT, aligned_stream, body_offset, padding


def _flight_data_class() -> type:
    """FlightData's wire layout, declared here as Flight.proto declares it."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="framing_test_flight.proto", package="framing_test", syntax="proto3"
    )
    message = proto.message_type.add(name="FlightData")
    for name, number in (("data_header", 2), ("app_metadata", 3), ("data_body", 1000)):
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("framing_test.FlightData"))


@pytest.mark.parametrize("header", [88, 120, 136, 992, 16376, 16384, 20000])
@pytest.mark.parametrize("body", [8, 127, 128, 1 << 14, (1 << 21) - 8, 1 << 21, 3 << 22])
def test_body_offset_matches_protobuf_and_padding_aligns_it(header: int, body: int) -> None:
    flight_data = _flight_data_class()
    for metadata in (0, 1, 5, padding(header, body)):
        wire = flight_data(
            data_header=b"h" * header, app_metadata=b"\0" * metadata, data_body=b"b" * body
        ).SerializeToString()
        assert body_offset(header, metadata, body) == len(wire) - body
    assert body_offset(header, padding(header, body), body) % ALIGNMENT == 0


LARGE = 256 * 1024


class _Server(flight.FlightServerBase):
    def __init__(self, tables: dict[bytes, pa.Table]) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.tables = tables

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        return aligned_stream(self.tables[ticket.ticket].to_reader())


def _strings(n: int, width: int) -> list[str | None]:
    return [None if i % 7 == 0 else f"{i:0{width}d}" for i in range(n)]


def _view_batch(n: int, width: int) -> pa.RecordBatch:
    """Views over as many data buffers as pyarrow's builder makes for strings this wide."""
    return pa.record_batch(
        {"v": pa.array(_strings(n, width), pa.string_view()), "i": pa.array(range(n), pa.int64())}
    )


def _tables() -> dict[bytes, pa.Table]:
    n = 50_000
    numbers = pa.table(
        {
            "i64": pa.array(range(n), pa.int64()),
            "i32": pa.array([None if i % 5 == 0 else i for i in range(n)], pa.int32()),
            "dec": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(15, 2)),
            "day": pa.array(range(n), pa.date32()),
            "flag": pa.array([i % 3 == 0 for i in range(n)]),
            "f64": pa.array([i / 3 for i in range(n)], pa.float64()),
        }
    )
    nested = pa.table(
        {
            "s": pa.array(_strings(n, 12)),
            "l": pa.array([[i, i + 1] if i % 4 else None for i in range(n)], pa.list_(pa.int64())),
            "st": pa.array(
                [{"a": i, "b": f"x{i}" * 5} for i in range(n)],
                pa.struct([("a", pa.int32()), ("b", pa.string_view())]),
            ),
        }
    )
    # Batches of one schema whose view columns hold different numbers of data buffers.
    views = pa.Table.from_batches([_view_batch(10, 4), _view_batch(40_000, 20), _view_batch(200_000, 40)])
    # A dictionary per batch: sent as pyarrow's plain stream sends it, dictionaries first.
    dictionaries = pa.Table.from_batches(
        [
            pa.record_batch({"d": pa.array([f"k{(i + shift) % 50}" for i in range(n)]).dictionary_encode()})
            for shift in (0, 7)
        ]
    )
    empty = pa.Table.from_batches([pa.record_batch({"i": pa.array([], pa.int64())})])
    no_columns = pa.table({"i": [1, 2, 3]}).select([])
    return {
        b"numbers": pa.Table.from_batches(numbers.to_batches(max_chunksize=8192)),
        b"nested": nested,
        b"views": views,
        b"dictionaries": dictionaries,
        b"empty": empty,
        b"no_columns": no_columns,
    }


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[flight.FlightClient, dict[bytes, pa.Table]]]:
    tables = _tables()
    with _Server(tables) as srv, flight.FlightClient(f"grpc://127.0.0.1:{srv.port}") as client:
        yield client, tables


def _misaligned(batch: pa.RecordBatch) -> list[str]:
    """Buffers off the boundary DataFusion wants: 16 bytes for decimals' values, else 8."""
    return [
        f"{field.name} buffer {i}"
        for field, column in zip(batch.schema, batch.columns, strict=True)
        for i, buf in enumerate(column.buffers())
        if buf is not None and buf.size and buf.address % (16 if pa.types.is_decimal(field.type) and i else 8)
    ]


@pytest.mark.parametrize("name", [b"numbers", b"nested", b"views", b"dictionaries", b"empty", b"no_columns"])
def test_stream_arrives_whole_and_aligned_without_realigning(
    server: tuple[flight.FlightClient, dict[bytes, pa.Table]], name: bytes
) -> None:
    client, tables = server
    reader = client.do_get(flight.Ticket(name))  # default options: pyarrow leaves buffers where they land
    batches = []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        assert chunk.app_metadata is None or set(chunk.app_metadata.to_pybytes()) <= {0}
        batches.append(chunk.data)
    received = pa.Table.from_batches(batches, tables[name].schema)
    assert received.equals(tables[name])
    # A small message arrives inside gRPC's read buffer, at any address (and costs little to
    # realign); a large one is gathered by pyarrow into an aligned buffer, where the padding
    # decides where its body lies.
    if name == b"dictionaries":
        return  # not padded: the consumer's realigning copy takes care of it
    large = [batch for batch in batches if pa.ipc.get_record_batch_size(batch) >= LARGE]
    assert [where for batch in large for where in _misaligned(batch)] == []
    assert large or name in {b"empty", b"no_columns"}
