"""Substrait plans: how DataFrame-API plans travel from a client to the scheduler.

A client builds its plan with DataFusion against tables that only carry the
cluster's schemas, and sends it as Substrait; the scheduler reads it back into
its own session, where the names resolve to the real tables, and from then on
runs it exactly like planned SQL. Substrait (not DataFusion's logical-plan
bytes) because it names tables instead of embedding their providers, and is
what Flight SQL's ``CommandStatementSubstraitPlan`` carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datafusion import substrait

from ballista_flight.errors import PlanningError, datafusion_message

if TYPE_CHECKING:
    from datafusion import DataFrame, SessionContext


def to_substrait(df: DataFrame, ctx: SessionContext) -> bytes:
    """``df``'s (unoptimized) logical plan as serialized Substrait; ``ctx`` built it."""
    try:
        return bytes(substrait.Producer.to_substrait_plan(df.logical_plan(), ctx).encode())
    except Exception as exc:
        msg = f"cannot express the plan in Substrait: {datafusion_message(exc)}"
        raise PlanningError(msg) from exc


def from_substrait(ctx: SessionContext, data: bytes) -> DataFrame:
    """A DataFrame of the serialized Substrait plan ``data``, resolved against ``ctx``'s tables."""
    if not data:
        msg = "empty Substrait plan"
        raise PlanningError(msg)
    try:
        plan = substrait.Serde.deserialize_bytes(data)
        logical = substrait.Consumer.from_substrait_plan(ctx, plan)
        return ctx.create_dataframe_from_logical_plan(logical)
    except Exception as exc:
        msg = f"cannot plan the Substrait plan: {datafusion_message(exc)}"
        raise PlanningError(msg) from exc
