"""A plain-Python snapshot of a DataFusion physical plan tree.

The planner works on these snapshots rather than on live ``ExecutionPlan``
objects so that stage cutting is a pure function that can be unit tested
without DataFusion state, and so each node's serialized bytes are read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datafusion import ExecutionPlan, SessionContext


@dataclass(eq=False)
class PlanNode:
    """One physical operator: its name, one-line display, partitions and encoding."""

    name: str
    detail: str
    partitions: int
    data: bytes
    children: list[PlanNode] = field(default_factory=list)
    hash_exprs: list[str] = field(default_factory=list)

    def walk(self) -> list[PlanNode]:
        """Nodes of this subtree in pre-order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def snapshot(plan: ExecutionPlan, ctx: SessionContext | None = None) -> PlanNode:
    """Capture ``plan`` (and its subtree) as ``PlanNode``s, encoded with ``ctx``'s codecs."""
    detail = plan.display().strip()
    name = detail.split(":", 1)[0].strip()
    partitioning = plan.output_partitioning
    hash_exprs = list(partitioning.hash_expressions or []) if partitioning.scheme == "Hash" else []
    return PlanNode(
        name=name,
        detail=detail,
        partitions=plan.partition_count,
        data=plan.to_bytes(ctx),
        children=[snapshot(child, ctx) for child in plan.children()],
        hash_exprs=hash_exprs,
    )
