"""A client-side DataFrame: DataFusion builds the plan here, the cluster runs it.

Each method returns a new DataFrame over a DataFusion plan built in the
client's own planning session, whose tables are empty stand-ins carrying the
cluster's schemas. Nothing runs locally: ``to_arrow()`` sends the plan as
Substrait, and the scheduler plans and runs it distributed like SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ballista_flight.plan.substrait import to_substrait
from ballista_flight.proto import ballista_flight_pb2 as pb

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from datafusion import DataFrame as LocalFrame
    from datafusion import Expr

    from ballista_flight.client.context import Context


class DataFrame:
    """A lazily run, distributed query built with DataFusion expressions (``col``, ``lit``, functions)."""

    def __init__(self, ctx: Context, df: LocalFrame) -> None:
        self._ctx = ctx
        self._df = df
        self._table: pa.Table | None = None

    def _wrap(self, df: LocalFrame) -> DataFrame:
        return DataFrame(self._ctx, df)

    # -- building ----------------------------------------------------------------
    def select(self, *exprs: Expr | str) -> DataFrame:
        """Project columns or expressions."""
        return self._wrap(self._df.select(*exprs))

    def filter(self, *predicates: Expr) -> DataFrame:
        """Keep the rows where every predicate is true."""
        return self._wrap(self._df.filter(*predicates))

    def with_column(self, name: str, expr: Expr) -> DataFrame:
        """Add (or replace) column ``name``."""
        return self._wrap(self._df.with_column(name, expr))

    def with_column_renamed(self, old: str, new: str) -> DataFrame:
        """Rename a column."""
        return self._wrap(self._df.with_column_renamed(old, new))

    def aggregate(self, group_by: list[Expr] | Expr, aggs: list[Expr] | Expr) -> DataFrame:
        """Group by ``group_by`` and compute ``aggs`` per group."""
        return self._wrap(self._df.aggregate(group_by, aggs))

    def join(
        self, right: DataFrame, on: str | list[str] | None = None, how: str = "inner", **kwargs: Any
    ) -> DataFrame:
        """Join with ``right`` (same arguments as DataFusion's ``DataFrame.join``)."""
        if right._ctx is not self._ctx:
            msg = "both DataFrames of a join must come from the same connection"
            raise ValueError(msg)
        if on is not None:
            kwargs["on"] = on
        return self._wrap(self._df.join(right._df, how=how, **kwargs))  # type: ignore[arg-type,call-overload]

    def sort(self, *exprs: Expr) -> DataFrame:
        """Order the rows (``col("x").sort(ascending=False)`` for descending)."""
        return self._wrap(self._df.sort(*exprs))

    def limit(self, count: int, offset: int = 0) -> DataFrame:
        """At most ``count`` rows, after skipping ``offset``."""
        return self._wrap(self._df.limit(count, offset))

    def distinct(self) -> DataFrame:
        """Only distinct rows."""
        return self._wrap(self._df.distinct())

    def union(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """Rows of both DataFrames (same schema)."""
        return self._wrap(self._df.union(other._df, distinct))

    def schema(self) -> pa.Schema:
        """The result's schema (as planned by the client)."""
        return self._df.schema()

    def logical_plan_text(self) -> str:
        """The client-side logical plan, as text."""
        return str(self._df.logical_plan().display_indent())

    # -- running -----------------------------------------------------------------
    def _command(
        self, *, explain: bool = False, copy: pb.CopyTarget | None = None
    ) -> pb.SubstraitPlanCommand:
        command = pb.SubstraitPlanCommand(plan=to_substrait(self._df, self._ctx._planner), explain=explain)
        if copy is not None:
            command.copy.CopyFrom(copy)
        return command

    def to_arrow(self) -> pa.Table:
        """Run the plan on the cluster; the whole result as a ``pyarrow.Table`` (cached)."""
        if self._table is None:
            self._table = self._ctx._run_command(self._command())[1]
        return self._table

    def to_pandas(self) -> pd.DataFrame:
        """The whole result as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def write_parquet(
        self, path: str, *, partition_by: list[str] | None = None, options: dict[str, str] | None = None
    ) -> int:
        """Write the rows as Parquet files under ``path`` (in parallel on the executors); rows written."""
        return self._write(path, "parquet", partition_by, options)

    def write_csv(
        self, path: str, *, partition_by: list[str] | None = None, options: dict[str, str] | None = None
    ) -> int:
        """Write the rows as CSV files under ``path``; rows written."""
        return self._write(path, "csv", partition_by, options)

    def write_json(
        self, path: str, *, partition_by: list[str] | None = None, options: dict[str, str] | None = None
    ) -> int:
        """Write the rows as newline-delimited JSON files under ``path``; rows written."""
        return self._write(path, "json", partition_by, options)

    def _write(
        self, path: str, fmt: str, partition_by: list[str] | None, options: dict[str, str] | None
    ) -> int:
        target = pb.CopyTarget(path=path, format=fmt, partition_by=partition_by or [], options=options or {})
        table = self._ctx._run_command(self._command(copy=target))[1]
        return int(table.column("count")[0].as_py()) if table.num_rows else 0

    def explain(self) -> str:
        """The distributed plan the scheduler makes of this DataFrame."""
        table = self._ctx._run_command(self._command(explain=True))[1]
        rows = dict(zip(table.column("plan_type").to_pylist(), table.column("plan").to_pylist(), strict=True))
        return rows.get("distributed_plan") or rows.get("physical_plan") or ""

    def __repr__(self) -> str:
        return f"DataFrame(\n{self.logical_plan_text()})"
