"""DataFusion's own operator metrics of a task's plan, for EXPLAIN ANALYZE and the web page.

After a task ran, every node of its (decoded, executed) plan holds DataFusion's
metrics summed over the partitions that ran: output rows, compute time, spills.
They are read once per task, depth first, and shipped back in the task status.
A scan of shuffle data is recognised by the name of the function that reads it
(``executor.inputs``) and reported as one operator, so the scheduler can tell how
many rows a stage read from each input.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ballista_flight.proto import ballista_flight_pb2 as pb

if TYPE_CHECKING:
    from datafusion import ExecutionPlan

log = logging.getLogger("ballista_flight.executor")

MAX_DETAIL = 200


def _count(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _sum(metrics: object, name: str) -> int:
    try:
        return _count(metrics.sum_by_name(name))  # type: ignore[attr-defined]
    except Exception:
        return 0


def operator_name(detail: str) -> str:
    """``FilterExec`` of ``FilterExec: a > 1``."""
    return detail.split(":", 1)[0].strip()


def plan_metrics(
    plan: ExecutionPlan, inputs: dict[str, int], skip_root: bool = False
) -> list[pb.OperatorMetrics]:
    """The operators of ``plan`` with their metrics, depth first.

    ``inputs`` maps the name of the function reading each shuffle input to its stage
    id; the input's subtree (tokens, function, unnest) is reported as its top node.
    ``skip_root`` leaves out the root (the partitioner a task wraps its stage plan
    in), so tasks of one stage report the same tree.
    """
    out: list[pb.OperatorMetrics] = []

    def visit(node: ExecutionPlan, depth: int) -> None:
        display = node.display()
        detail = display.splitlines()[0] if display else ""
        entry = pb.OperatorMetrics(
            index=len(out), depth=depth, name=operator_name(detail), detail=detail[:MAX_DETAIL]
        )
        metrics = node.metrics()
        if metrics is not None:
            entry.output_rows = _count(metrics.output_rows)
            entry.elapsed_compute_ns = _count(metrics.elapsed_compute)
            entry.spill_count = _count(metrics.spill_count)
            entry.spilled_bytes = _count(metrics.spilled_bytes)
            entry.spilled_rows = _count(metrics.spilled_rows)
            entry.output_bytes = _sum(metrics, "output_bytes")
        children = node.children()
        for name, stage_id in inputs.items():
            if name in display:
                entry.input_stage = stage_id
                children = []
                break
        out.append(entry)
        for child in children:
            visit(child, depth + 1)

    try:
        if skip_root:
            for child in plan.children():
                visit(child, 0)
        else:
            visit(plan, 0)
    except Exception:  # metrics are for people: never fail a task over them
        log.debug("could not read plan metrics", exc_info=True)
    return out
