"""What a job did, in numbers: progress, per-stage totals, operator metrics, task history.

One place turns a job's raw records (the task statuses executors sent back)
into the views people read: ``job_status`` (progress bars, ``ballista-flight
jobs``), the per-stage reports of ``EXPLAIN ANALYZE`` and the web page. Pure
functions of the job, so every view agrees.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ballista_flight.plan.stages import ExchangeKind
from ballista_flight.proto import ballista_flight_pb2 as pb

if TYPE_CHECKING:
    from ballista_flight.plan.stages import Stage
    from ballista_flight.scheduler.jobs import Job

_DONE = (pb.JOB_SUCCEEDED, pb.JOB_FAILED, pb.JOB_CANCELLED)


def state_name(state: int) -> str:
    """``succeeded`` for ``JOB_SUCCEEDED``."""
    return str(pb.JobState.Name(state)).removeprefix("JOB_").lower()  # type: ignore[arg-type]


def latest_tasks(job: Job) -> dict[tuple[int, int], pb.TaskStatus]:
    """The last successful attempt of every task, by (stage, partition)."""
    out: dict[tuple[int, int], pb.TaskStatus] = {}
    for status in [*job.task_statuses, *job.result_tasks]:
        out[(status.stage_id, status.partition)] = status
    return out


def _elapsed(job: Job) -> float:
    return (job.finished or time.monotonic()) - job.created


def _stage_window(job: Job, stage: Stage) -> tuple[float, float]:
    """Seconds after the job started when the stage began and ended (0: not yet)."""
    start = job.stage_started.get(stage.stage_id, 0.0)
    if stage.stage_id in job.stage_times:
        return job.stage_times[stage.stage_id]
    if stage.output is ExchangeKind.RESULT and job.state == pb.JOB_SUCCEEDED and job.finished is not None:
        return start, job.finished - job.created
    return start, 0.0


def _tasks_done(job: Job, stage: Stage) -> int:
    return min(stage.tasks, job.tasks_done.get(stage.stage_id, 0))


def job_status(job: Job) -> pb.JobStatus:
    """The job as a protobuf message: state, per-stage progress, rows and bytes shuffled."""
    tasks = latest_tasks(job)
    stages = []
    for stage in job.stages:
        mine = [t for (s, _), t in tasks.items() if s == stage.stage_id]
        start, end = _stage_window(job, stage)
        stages.append(
            pb.StageStatus(
                stage_id=stage.stage_id,
                tasks=stage.tasks,
                tasks_done=_tasks_done(job, stage),
                output=stage.output.value,
                rows=sum(t.rows for t in mine),
                bytes=sum(t.bytes for t in mine),
                start_s=start,
                end_s=end,
                inputs=[i.stage_id for i in stage.inputs],
                operator=stage.root.name,
                partitions=stage.partitions,
            )
        )
    shuffled = [s for s in stages if s.output in (ExchangeKind.REPARTITION.value, ExchangeKind.MERGE.value)]
    return pb.JobStatus(
        job_id=job.job_id,
        state=job.state,  # type: ignore[arg-type]
        sql=job.sql,
        error=job.error,
        elapsed_s=_elapsed(job),
        started_at=job.started_at,
        stages=stages,
        tasks=sum(s.tasks for s in stages),
        tasks_done=sum(s.tasks_done for s in stages),
        rows_shuffled=sum(s.rows for s in shuffled),
        bytes_shuffled=sum(s.bytes for s in shuffled),
        executors=sorted(job.executors_used),
    )


def _operators(statuses: list[pb.TaskStatus]) -> list[dict[str, Any]]:
    """Operator metrics summed over a stage's tasks (tasks of a stage run the same tree)."""
    merged: dict[int, dict[str, Any]] = {}
    for status in statuses:
        for op in status.operators:
            entry = merged.get(op.index)
            if entry is None or entry["name"] != op.name:
                if entry is not None:  # trees differ: keep the first task's shape
                    continue
                entry = merged[op.index] = {
                    "index": op.index,
                    "depth": op.depth,
                    "name": op.name,
                    "detail": op.detail,
                    "input_stage": op.input_stage if op.HasField("input_stage") else None,
                    "output_rows": 0,
                    "output_bytes": 0,
                    "elapsed_compute_s": 0.0,
                    "spill_count": 0,
                    "spilled_bytes": 0,
                    "spilled_rows": 0,
                    "tasks": 0,
                }
            entry["output_rows"] += op.output_rows
            entry["output_bytes"] += op.output_bytes
            entry["elapsed_compute_s"] += op.elapsed_compute_ns / 1e9
            entry["spill_count"] += op.spill_count
            entry["spilled_bytes"] += op.spilled_bytes
            entry["spilled_rows"] += op.spilled_rows
            entry["tasks"] += 1
    return [merged[i] for i in sorted(merged)]


def task_report(status: pb.TaskStatus) -> dict[str, Any]:
    """One task attempt, flat."""
    return {
        "stage_id": status.stage_id,
        "partition": status.partition,
        "attempt": status.attempt,
        "executor_id": status.executor_id,
        "rows": status.rows,
        "bytes": status.bytes,
        "bytes_fetched_remote": status.bytes_fetched_remote,
        "start_s": round(status.start_s, 6),
        "end_s": round(status.end_s, 6),
        "elapsed_s": round(status.elapsed_s, 6),
        "fetch_s": round(status.fetch_s, 6),
        "execute_s": round(status.execute_s, 6),
        "partition_s": round(status.partition_s, 6),
        "error": status.error,
    }


def partition_rows(stage: Stage, statuses: list[pb.TaskStatus]) -> dict[int, int]:
    """Rows in each output partition of a stage, from its tasks' own counts."""
    out: dict[int, int] = {}
    for status in statuses:
        if stage.output is ExchangeKind.REPARTITION:
            parts = dict(enumerate(status.bucket_rows))
        elif stage.single_task:
            parts = dict(enumerate(status.map_rows))
        else:
            parts = {status.partition: status.rows}
        for part, rows in parts.items():
            out[part] = out.get(part, 0) + rows
    return out


def stage_reports(job: Job) -> list[dict[str, Any]]:
    """Per stage: progress, timing, rows and bytes written and read per input, operator metrics."""
    tasks = latest_tasks(job)
    by_stage = {s.stage_id: s for s in job.stages}
    parts = {
        s.stage_id: partition_rows(s, [t for (i, _), t in tasks.items() if i == s.stage_id])
        for s in job.stages
    }
    out = []
    for stage in job.stages:
        mine = [t for (s, _), t in sorted(tasks.items()) if s == stage.stage_id]
        operators = _operators(mine)
        rows_read = {str(i.stage_id): 0 for i in stage.inputs}
        for op in operators:
            if op["input_stage"] is not None and str(op["input_stage"]) in rows_read:
                rows_read[str(op["input_stage"])] += op["output_rows"]
        start, end = _stage_window(job, stage)
        done = _tasks_done(job, stage)
        if done >= stage.tasks and (end or stage.output is not ExchangeKind.RESULT):
            state = "done"
        elif start or done:
            state = "running"
        else:
            state = "waiting"
        # Per input: rows the executors' scans of it produced, rows the scheduler expects them
        # to read (the producer's rows in the partitions each task was sent; a broadcast
        # build side is read by every task), and rows the producer wrote.
        inputs = []
        for inp in stage.inputs:
            done_tasks = {t.partition for t in mine}
            expected = sum(
                parts[inp.stage_id].get(p, 0)
                for task in (range(1) if stage.single_task else sorted(done_tasks))
                for p in stage.reads_of(task, inp.stage_id)
            )
            inputs.append(
                {
                    "stage_id": inp.stage_id,
                    "kind": inp.kind.value,
                    "rows_read": rows_read[str(inp.stage_id)],
                    "rows_expected": expected,
                    "rows_written": sum(parts[inp.stage_id].values()),
                    "producer_tasks": by_stage[inp.stage_id].tasks,
                }
            )
        executors: dict[str, int] = {}
        for t in mine:
            executors[t.executor_id] = executors.get(t.executor_id, 0) + 1
        out.append(
            {
                "stage_id": stage.stage_id,
                "operator": stage.root.name,
                "output": stage.output.value,
                "partitions": stage.partitions,
                "buckets": stage.buckets if stage.output is ExchangeKind.REPARTITION else None,
                "tasks": stage.tasks,
                "tasks_done": done,
                "state": state,
                "inputs": [i.stage_id for i in stage.inputs],
                "start_s": round(start, 6),
                "end_s": round(end, 6),
                "duration_s": round(max(0.0, end - start), 6) if end else None,
                "output_rows": sum(t.rows for t in mine),
                "output_bytes": sum(t.bytes for t in mine),
                "rows_read": rows_read,
                "input_edges": inputs,
                "bytes_fetched_remote": sum(t.bytes_fetched_remote for t in mine),
                "task_seconds": round(sum(t.elapsed_s for t in mine), 6),
                "elapsed_compute_s": round(sum(o["elapsed_compute_s"] for o in operators), 6),
                "spilled_bytes": sum(o["spilled_bytes"] for o in operators),
                "executors": executors,
                "operators": operators,
            }
        )
    return out


def job_summary(job: Job) -> dict[str, Any]:
    """A job in one flat dict (lists of jobs)."""
    status = job_status(job)
    return {
        "job_id": job.job_id,
        "state": state_name(job.state),
        "sql": job.sql,
        "error": job.error,
        "started_at": job.started_at,
        "elapsed_s": round(status.elapsed_s, 6),
        "stages": len(status.stages),
        "stages_done": sum(1 for s in status.stages if s.tasks_done >= s.tasks),
        "tasks": status.tasks,
        "tasks_done": status.tasks_done,
        "rows_shuffled": status.rows_shuffled,
        "bytes_shuffled": status.bytes_shuffled,
        "executors": list(status.executors),
        "finished": job.state in _DONE,
    }


def job_detail(job: Job) -> dict[str, Any]:
    """Everything about a job: summary, stages with metrics, every task attempt."""
    out = job_summary(job)
    out["planning_s"] = round(job.planned_s, 6)
    out["map_stages_s"] = round(job.map_stages_s, 6)
    out["stage_reports"] = stage_reports(job)
    attempts = [*job.task_statuses, *job.result_tasks, *job.failed_tasks]
    out["task_attempts"] = [
        task_report(t) for t in sorted(attempts, key=lambda t: (t.stage_id, t.partition, t.end_s))
    ]
    return out


def to_json(value: object) -> str:
    """Compact JSON of a report."""
    return json.dumps(value, separators=(",", ":"))


def human_bytes(n: float) -> str:
    """``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _seconds(s: float) -> str:
    return f"{s * 1000:.1f}ms" if s < 1 else f"{s:.2f}s"


def render_analyzed(job: Job, reports: list[dict[str, Any]], verbose: bool = False) -> str:
    """Text of the distributed plan, each stage and operator annotated with what it really did."""
    lines = [
        f"Job {job.job_id}: {len(reports)} stages, {sum(r['tasks'] for r in reports)} tasks, "
        f"planning {_seconds(job.planned_s)}, running {_seconds(job.map_stages_s)}"
    ]
    for r in reversed(reports):
        reads = (
            ", ".join(
                f"{e['rows_read']} rows from stage {e['stage_id']}"
                + (
                    f" (its {e['rows_written']} rows, read by every task)"
                    if e["rows_read"] != e["rows_written"]
                    else ""
                )
                for e in r["input_edges"]
            )
            or "no shuffle input"
        )
        if r["output"] == ExchangeKind.REPARTITION.value:
            out = f"wrote {r['output_rows']} rows ({human_bytes(r['output_bytes'])}) into {r['buckets']} partitions"
        elif r["output"] == ExchangeKind.MERGE.value:
            out = f"wrote {r['output_rows']} rows ({human_bytes(r['output_bytes'])}), one partition per task"
        else:
            out = f"returned {r['output_rows']} rows"
        lines.append("")
        lines.append(
            f"Stage {r['stage_id']}: {r['tasks']} task{'s' if r['tasks'] != 1 else ''}, "
            f"{_seconds(r['duration_s'] or 0.0)} wall, {_seconds(r['task_seconds'])} in tasks; "
            f"read {reads}; {out}"
            + (f"; spilled {human_bytes(r['spilled_bytes'])}" if r["spilled_bytes"] else "")
        )
        if verbose:
            lines.append(f"  executors: {', '.join(f'{e} ({n})' for e, n in sorted(r['executors'].items()))}")
        for op in r["operators"]:
            if op["input_stage"] is not None:
                text = f"ShuffleReadExec: stage={op['input_stage']}"
            else:
                text = op["detail"]
            metrics = f"output_rows={op['output_rows']}, elapsed_compute={_seconds(op['elapsed_compute_s'])}"
            if op["spill_count"] or op["spilled_bytes"]:
                metrics += f", spill_count={op['spill_count']}, spilled_bytes={op['spilled_bytes']}"
            lines.append(f"{'  ' * (op['depth'] + 1)}{text}, metrics=[{metrics}]")
    return "\n".join(lines) + "\n"


def analyzed_dot(reports: list[dict[str, Any]]) -> str:
    """The stage graph in Graphviz DOT, each stage and exchange labelled with what it did."""
    lines = ["digraph stages {", "  rankdir=BT;"]
    for r in reports:
        label = (
            f"Stage {r['stage_id']}\\n{r['tasks']} tasks, {_seconds(r['duration_s'] or 0.0)}\\n"
            f"{r['operator']}\\n{r['output_rows']} rows, {human_bytes(r['output_bytes'])}"
        )
        lines.append(f'  s{r["stage_id"]} [shape=box, label="{label}"];')
        for edge in r["input_edges"]:
            lines.append(
                f'  s{edge["stage_id"]} -> s{r["stage_id"]} [label="{edge["kind"]}\\n{edge["rows_read"]} rows"];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"
