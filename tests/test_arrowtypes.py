"""Type questions that look inside nested types."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ballista_flight.arrowtypes import holds

DICT = pa.dictionary(pa.int32(), pa.string())


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (DICT, True),
        (pa.string(), False),
        (pa.struct([("a", pa.int64()), ("b", pa.list_(DICT))]), True),
        (pa.map_(pa.string(), DICT), True),
        (pa.dense_union([pa.field("a", pa.int32()), pa.field("b", DICT)]), True),
        (pa.run_end_encoded(pa.int32(), DICT), True),
        (pa.large_list(pa.struct([("a", pa.decimal128(10, 2))])), False),
    ],
)
def test_holds_finds_a_dictionary_at_any_depth(type_: pa.DataType, expected: bool) -> None:
    assert holds(type_, pa.types.is_dictionary) is expected


def test_holds_looks_inside_a_dictionarys_values() -> None:
    assert holds(pa.dictionary(pa.int8(), pa.decimal128(10, 2)), pa.types.is_decimal128)
    assert not holds(pa.dictionary(pa.int8(), pa.string()), pa.types.is_decimal128)
