"""Comparing a distributed result with an independent engine's result."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa

REL_TOL = 1e-6


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return ("nan",) if math.isnan(value) else value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    return value


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out = []
    for v in row:
        if v is None:
            out.append((0, ""))
        elif isinstance(v, (int, float)):
            out.append((1, round(v, 6) if isinstance(v, float) else v))
        elif isinstance(v, (dt.date, dt.datetime, dt.time, dt.timedelta)):
            out.append((2, v.isoformat() if hasattr(v, "isoformat") else str(v)))
        else:
            out.append((3, str(v)))
    return tuple(out)


def _close(a: Any, b: Any, rel_tol: float = REL_TOL) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if isinstance(a, tuple) or isinstance(b, tuple):
            return a == b
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_close(x, y, rel_tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """The table's rows as tuples of normalized Python values."""
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [tuple(_norm(col[r]) for col in columns) for r in range(table.num_rows)]


def assert_same_result(
    got: pa.Table,
    expected: pa.Table,
    *,
    ordered: bool,
    context: str = "",
    check_names: bool = True,
    rel_tol: float = REL_TOL,
) -> None:
    """Same columns and rows (floats to ``rel_tol``); row order only when ``ordered``.

    Another engine may name columns differently and round averages of decimals
    differently (DataFusion keeps 6 decimal places): compare it with
    ``check_names=False`` and a looser ``rel_tol``.
    """
    where = f" [{context}]" if context else ""
    if check_names:
        assert got.column_names == expected.column_names, (
            f"columns differ{where}: {got.column_names} != {expected.column_names}"
        )
    else:
        assert got.num_columns == expected.num_columns, f"column count differs{where}"
    assert got.num_rows == expected.num_rows, (
        f"row count differs{where}: {got.num_rows} != {expected.num_rows}"
    )
    got_rows, exp_rows = rows(got), rows(expected)
    if not ordered:
        got_rows.sort(key=_sort_key)
        exp_rows.sort(key=_sort_key)
    for i, (g, e) in enumerate(zip(got_rows, exp_rows, strict=True)):
        assert _close(g, e, rel_tol), f"row {i} differs{where}: {g} != {e}"
