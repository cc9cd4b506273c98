"""Questions about Arrow types that have to look inside nested ones."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa


def holds(type_: pa.DataType, test: Callable[[pa.DataType], bool]) -> bool:
    """Whether ``type_``, or a type nested in it (a field's, a dictionary's values), passes ``test``."""
    if test(type_):
        return True
    if pa.types.is_dictionary(type_):
        return holds(type_.value_type, test)
    return any(holds(type_.field(i).type, test) for i in range(type_.num_fields))
