"""Cutting a physical plan into stages at its exchanges.

An *exchange* is where DataFusion moves rows between partitions:

* ``RepartitionExec`` (hash or round robin): its input becomes a map stage
  whose tasks hash-partition their output into ``N`` shuffle buckets; in the
  parent the whole ``RepartitionExec`` becomes a shuffle read of ``N``
  partitions.
* ``CoalescePartitionsExec`` / ``SortPreservingMergeExec`` over more than one
  partition: the input becomes a stage whose task ``k`` keeps its output as one
  bucket; the merge stays in the parent, reading ``K`` partitions.

In the parent stage's plan each exchange is replaced by a *placeholder* (a tiny,
unique plan); an executor swaps the placeholder for an in-memory scan of the
shuffle data before decoding.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ballista_flight.plan.physical import PlanNode
from ballista_flight.plan.protowire import replace_submessage
from ballista_flight.plan.scans import file_group_count, restrict_file_groups, scan_files

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Set as AbstractSet

    from ballista_flight.plan.writes import SinkPlan


REPARTITION_OPS = frozenset({"RepartitionExec"})
MERGE_OPS = frozenset({"CoalescePartitionsExec", "SortPreservingMergeExec"})
# Operators that verify on decode that their children are hash-partitioned alike.
KEEPS_HASH_PARTITIONING = frozenset({"InterleaveExec"})


class ExchangeKind(enum.Enum):
    """How a stage's output reaches its consumer."""

    REPARTITION = "repartition"
    MERGE = "merge"
    RESULT = "result"
    WRITE = "write"  # the final stage of COPY / INSERT INTO: every task writes files


@dataclass
class StageInput:
    """An exchange read by a stage.

    ``partitions`` is how many partitions the consumer sees: the bucket count
    for a repartition, the producer's task count for a merge. ``original`` is
    the exchange's own subtree, which the consumer can run in place of the
    placeholder when the producer's output is empty and carries no schema.
    """

    stage_id: int
    kind: ExchangeKind
    partitions: int
    placeholder: bytes
    original: bytes
    node: PlanNode | None = None
    # A merge read by SortPreservingMergeExec: each input partition must stay sorted.
    ordered: bool = False


@dataclass
class Stage:
    """A fragment run as ``partitions`` independent tasks."""

    stage_id: int
    plan: bytes
    partitions: int
    inputs: list[StageInput]
    output: ExchangeKind
    root: PlanNode
    # For REPARTITION output: the RepartitionExec with its input replaced by
    # ``output_placeholder``; each task splices its own output in there.
    partitioner: bytes = b""
    output_placeholder: bytes = b""
    buckets: int = 1
    # task partition -> input stage id -> input partitions that task reads
    reads: list[dict[int, list[int]]] = field(default_factory=list)
    # Every leaf is a shuffle read and tasks read disjoint input partitions, so a
    # task may run all partitions of the stage with only its share of the input.
    whole_stage: bool = False
    # The stage has a join that emits build-side rows (unmatched, semi, anti)
    # only from the last probe partition of one plan instance: one task must
    # run all of its partitions.
    single_task: bool = False
    # File scans of the stage, restricted per task when it runs whole: key -> bytes.
    scans: dict[int, bytes] = field(default_factory=dict)
    # WRITE output: the DataSinkExec each task runs over its rows.
    sink: SinkPlan | None = None
    # Whole-stage tasks may each own a run of partitions (``slice_tasks``); empty: one each.
    slices: list[list[int]] = field(default_factory=list)
    # Every leaf is a shuffle read (no file scan): once the inputs are known to be tiny, the
    # stage may run as one task without one task scanning every file (``runs_as_one_task``).
    reads_only_inputs: bool = False

    def run_as_one_task(self) -> None:
        """One task runs every partition in one plan (it cannot also be a whole-stage slice)."""
        self.single_task = True
        self.whole_stage = False

    def task_plan(self, task: int) -> bytes:
        """The plan a task runs: whole-stage tasks read only their share of each file scan."""
        if not self.whole_stage or not self.scans:
            return self.plan
        plan = self.plan
        for key, data in self.scans.items():
            keep = set(self.reads_of(task, key))
            plan = replace_submessage(plan, data, restrict_file_groups(data, keep))
        return plan

    def reads_of(self, task: int, key: int) -> list[int]:
        """Partitions of input ``key`` (a stage id, or a scan's negative key) that ``task`` reads."""
        if self.single_task:
            return self.reads_of_all(key)
        if task >= self.tasks:
            return []
        owned = self.slices[task] if self.slices else [task]
        return sorted({p for part in owned for p in self.reads[part].get(key, [])})

    def reads_of_all(self, key: int) -> list[int]:
        """Partitions of input ``key`` that any partition of the stage reads."""
        return sorted({p for reads in self.reads for p in reads.get(key, [])})

    @property
    def tasks(self) -> int:
        """Tasks the stage runs as."""
        return 1 if self.single_task else self.outputs

    @property
    def outputs(self) -> int:
        """Map outputs the stage leaves for its consumer: one per task, or per partition of a single task."""
        return len(self.slices) if self.slices else self.partitions


def is_repartition(node: PlanNode) -> bool:
    """Whether ``node`` moves rows between partitions by hashing or round robin."""
    return node.name in REPARTITION_OPS


def is_merge(node: PlanNode) -> bool:
    """Whether ``node`` merges several partitions into one."""
    return node.name in MERGE_OPS and len(node.children) == 1 and node.children[0].partitions > 1


# Operators whose output partition i is computed from input partition i alone.
_PARTITION_WISE = frozenset(
    {"FilterExec", "ProjectionExec", "CoalesceBatchesExec", "CooperativeExec", "LocalLimitExec", "UnionExec"}
)
# Joins whose right (probe) side is partition-wise, the left collected whole.
_PROBE_RIGHT = frozenset({"CrossJoinExec", "NestedLoopJoinExec"})


def _absorbs(node: PlanNode) -> bool:
    """Whether ``node`` re-partitions its input, whatever the input's partition count."""
    return node.name in REPARTITION_OPS or node.name in MERGE_OPS


def _partition_wise_children(node: PlanNode) -> list[bool]:
    """For each child: does ``node``'s partition count simply follow that child's?"""
    if node.name in _PARTITION_WISE:
        return [True] * len(node.children)
    if node.name == "AggregateExec" and "mode=Partial," in node.detail + ",":
        return [True]
    if node.name == "SortExec" and "preserve_partitioning=[true]" in node.detail:
        return [True]
    if node.name in _PROBE_RIGHT or (node.name == "HashJoinExec" and "mode=CollectLeft" in node.detail):
        return [False, True]
    return [False] * len(node.children)


def drop_round_robin(root: PlanNode) -> PlanNode:
    """Remove round-robin repartitions of a single partition where nothing depends on them.

    DataFusion fans a one-file scan out round robin for parallelism; distributed, that is a
    whole shuffle stage (and N result endpoints) for no work. It is dropped when every
    operator above it, up to the next exchange or the root, computes partition i from input
    partition i, so fewer partitions change nothing but the task count.
    """

    def rewrite(node: PlanNode, absorbed: bool) -> PlanNode:
        if (
            absorbed
            and node.name in REPARTITION_OPS
            and "RoundRobinBatch" in node.detail
            and node.children[0].partitions == 1
        ):
            return rewrite(node.children[0], absorbed)
        follows = _partition_wise_children(node)
        children = [
            rewrite(child, _absorbs(node) or (absorbed and follow))
            for child, follow in zip(node.children, follows, strict=True)
        ]
        if all(new is old for new, old in zip(children, node.children, strict=True)):
            return node
        data = node.data
        for new, old in zip(children, node.children, strict=True):
            if new is not old:
                data = replace_submessage(data, old.data, new.data)
        partitions = node.partitions
        if node.name == "UnionExec":
            partitions = sum(c.partitions for c in children)
        elif any(follows):
            partitions = children[follows.index(True)].partitions
        return PlanNode(node.name, node.detail, partitions, data, children, node.hash_exprs)

    return rewrite(root, absorbed=True)


def cut_stages(root: PlanNode, placeholder: Callable[[str], bytes]) -> list[Stage]:
    """Cut ``root`` into stages; the last one is the final (result) stage.

    ``placeholder(name)`` returns the unique plan bytes standing for a stage's
    output in its consumer's plan. Stages are returned producers first.
    """
    stages: list[Stage] = []
    boundaries: dict[int, int] = {}  # id(node) -> stage id of the input it stands for

    def build(node: PlanNode, keep_hash: bool = False) -> tuple[bytes, list[StageInput]]:
        if is_repartition(node):
            child = node.children[0]
            out_ph = placeholder(f"out{len(stages)}")
            stage = make_stage(child, ExchangeKind.REPARTITION)
            stage.partitioner = replace_submessage(node.data, child.data, out_ph)
            stage.output_placeholder = out_ph
            stage.buckets = node.partitions
            ph = placeholder(f"in{stage.stage_id}")
            boundaries[id(node)] = stage.stage_id
            if keep_hash:
                # An ancestor checks, when decoded, that its input is hash-partitioned:
                # keep the RepartitionExec over the shuffle read. Its rows already sit
                # in their buckets, so it hashes each row back to the same partition.
                data = replace_submessage(node.data, child.data, ph)
                original = child.data
            else:
                data, original = ph, node.data
            return data, [
                StageInput(stage.stage_id, ExchangeKind.REPARTITION, node.partitions, ph, original, node)
            ]
        if is_merge(node):
            child = node.children[0]
            stage = make_stage(child, ExchangeKind.MERGE)
            ph = placeholder(f"in{stage.stage_id}")
            boundaries[id(child)] = stage.stage_id
            data = replace_submessage(node.data, child.data, ph)
            ordered = node.name == "SortPreservingMergeExec"
            return data, [
                StageInput(
                    stage.stage_id, ExchangeKind.MERGE, child.partitions, ph, child.data, child, ordered
                )
            ]
        data = node.data
        inputs: list[StageInput] = []
        for child in node.children:
            child_data, child_inputs = build(child, keep_hash or node.name in KEEPS_HASH_PARTITIONING)
            if child_data is not child.data:
                data = replace_submessage(data, child.data, child_data)
            inputs.extend(child_inputs)
        return data, inputs

    def make_stage(node: PlanNode, output: ExchangeKind) -> Stage:
        data, inputs = build(node)
        stage = Stage(len(stages), data, node.partitions, inputs, output, node)
        scans = _file_scans(node, boundaries)
        # Scans are keyed -1, -2, ... beside the input stage ids in ``reads``.
        scan_keys = {id(leaf): -(i + 1) for i, leaf in enumerate(scans)}
        unique = len({leaf.data for leaf in scans}) == len(scans)
        marks = {**boundaries, **scan_keys} if unique else boundaries
        stage.reads = [task_reads(node, p, marks) for p in range(node.partitions)]
        stage.scans = {scan_keys[id(leaf)]: leaf.data for leaf in scans} if unique else {}
        widths = {inp.stage_id: inp.partitions for inp in inputs}
        widths.update({scan_keys[id(leaf)]: leaf.partitions for leaf in scans})
        shared = _broadcast_reads(stage.reads, widths)
        stage.whole_stage = _leaves_are_inputs(node, marks) and _disjoint_reads(stage.reads, shared)
        stage.reads_only_inputs = bool(inputs) and _leaves_are_inputs(node, boundaries)
        if node.partitions > 1 and _needs_one_instance(node, boundaries):
            stage.run_as_one_task()
        stages.append(stage)
        return stage

    make_stage(drop_round_robin(root), ExchangeKind.RESULT)
    return stages


# Leaves that read nothing (SELECT 1, an empty relation).
_NO_INPUT = frozenset({"PlaceholderRowExec", "EmptyExec"})


def scanned_bytes(root: PlanNode) -> int | None:
    """Bytes of the files a plan reads (each file once), or None if a leaf is not a file scan."""
    files: dict[bytes, int] = {}
    for node in root.walk():
        if node.children:
            continue
        if node.name in _NO_INPUT:
            continue
        found = scan_files(node.data) if node.name == "DataSourceExec" else None
        if found is None:
            return None
        files.update(found)
    return sum(files.values())


def one_stage(root: PlanNode) -> list[Stage]:
    """The whole plan as one task: DataFusion runs its exchanges in memory, in one process.

    For a query over little data, each distributed stage costs more (a task round trip,
    shuffle files, a fetch) than its work; one executor runs it with all its cores.
    """
    return [
        Stage(0, root.data, root.partitions, [], ExchangeKind.RESULT, root, single_task=root.partitions > 1)
    ]


def runs_as_one_task(stage: Stage, input_bytes: int, limit: int) -> bool:
    """Whether a stage whose inputs turned out smaller than ``limit`` bytes should run as one task.

    The tail of most queries (final aggregates, sorts, a top-N) reads a few kilobytes through
    as many tasks as the cluster has slots, each paying a dispatch, a plan, its fetches and
    its files. One task runs every partition in one plan (DataFusion still uses the
    executor's cores) and leaves the same outputs. Decided when the stage is scheduled, from
    its inputs' real sizes; stages that scan files, or whose tasks own runs of partitions
    (their consumers read one output per run), keep their tasks.
    """
    return (
        _reads_tiny_inputs(stage, input_bytes, limit)
        and not stage.single_task
        and stage.partitions > 1
        and stage.output in (ExchangeKind.REPARTITION, ExchangeKind.MERGE, ExchangeKind.RESULT)
    )


def _reads_tiny_inputs(stage: Stage, input_bytes: int, limit: int) -> bool:
    """Only shuffle inputs, under ``limit`` bytes in all (0: never), and no runs of partitions."""
    return limit > 0 and input_bytes < limit and stage.reads_only_inputs and not stage.slices


def fuses_into(producer: Stage, final: Stage, input_bytes: int, limit: int) -> bool:
    """Whether ``producer``, its inputs smaller than ``limit`` bytes, should run inside ``final``.

    The final stage runs when a client fetches the result. When its only input is a stage
    that reads a few kilobytes of shuffle output (q01's final aggregate and sort, say), that
    stage would run as one task, write its output and report back before the result task
    reads it again: a round trip for no work. Run in the final stage's plan instead, as
    DataFusion planned it, it costs one task and one shuffle fewer.
    """
    return (
        _reads_tiny_inputs(producer, input_bytes, limit)
        and producer.output in (ExchangeKind.REPARTITION, ExchangeKind.MERGE)
        and final.output is ExchangeKind.RESULT
        and final.reads_only_inputs
        and not final.slices
        and [inp.stage_id for inp in final.inputs] == [producer.stage_id]
    )


def fuse(producer: Stage, final: Stage) -> None:
    """Put ``producer``'s plan where ``final`` reads it; ``final`` then reads the producer's inputs.

    The fused stage runs as one task: one plan instance, with the exchange between the two
    stages back in memory where DataFusion put it.
    """
    (inp,) = [i for i in final.inputs if i.stage_id == producer.stage_id]
    body = producer.plan
    if inp.kind is ExchangeKind.REPARTITION and inp.node is not None and inp.original == inp.node.data:
        # The placeholder stands for the RepartitionExec itself, not only for its input.
        body = replace_submessage(producer.partitioner, producer.output_placeholder, body)
    every = {key: producer.reads_of_all(key) for key in {k for reads in producer.reads for k in reads}}
    final.plan = replace_submessage(final.plan, inp.placeholder, body)
    final.reads = [dict(every) for _ in range(final.partitions)]
    final.inputs = list(producer.inputs)
    final.run_as_one_task()


def slice_tasks(stages: list[Stage], executors: int) -> None:
    """Let each task of a whole stage own a run of partitions, one run per executor.

    Such a task runs its partitions in one plan, reading only its share of the inputs, so
    two partitions in one task cost one task (one dispatch, one hash table for each broadcast
    build side, one set of shuffle files) where two tasks cost two, and DataFusion still runs
    them in parallel. A merge output is sliced only when its consumer merges it unordered
    (CoalescePartitionsExec): a task's partitions, concatenated, are not sorted as a whole.
    """
    if executors < 1:
        return
    readers = _readers(stages)
    for stage in stages:
        if not stage.whole_stage or stage.single_task or stage.partitions <= executors:
            continue
        consumers = readers.get(stage.stage_id, [])
        if stage.output is ExchangeKind.MERGE:
            if not consumers or any(inp.ordered for _, inp in consumers):
                continue
        elif stage.output is not ExchangeKind.REPARTITION:
            continue
        size = -(-stage.partitions // executors)  # ceil
        parts = list(range(stage.partitions))
        stage.slices = [parts[i : i + size] for i in range(0, stage.partitions, size)]
        if stage.output is ExchangeKind.MERGE:  # its consumers now see one partition per task
            for consumer, inp in consumers:
                inp.partitions = len(stage.slices)
                for reads in consumer.reads:
                    if stage.stage_id in reads:
                        reads[stage.stage_id] = list(range(len(stage.slices)))


def stage_depths(stages: list[Stage]) -> dict[int, int]:
    """How many exchanges lie between each stage and the result (the final stage is 0).

    The scheduler runs deeper stages first when tasks wait for slots: their
    consumers have the longest way still to go.
    """
    readers = _readers(stages)
    depths: dict[int, int] = {}
    for stage in reversed(stages):  # consumers come after their producers
        consumers = readers.get(stage.stage_id, [])
        depths[stage.stage_id] = 1 + max((depths[c.stage_id] for c, _ in consumers), default=-1)
    return depths


def _readers(stages: list[Stage]) -> dict[int, list[tuple[Stage, StageInput]]]:
    """Stage id -> the stages that read it, each with its input that stands for it."""
    readers: dict[int, list[tuple[Stage, StageInput]]] = {}
    for stage in stages:
        for inp in stage.inputs:
            readers.setdefault(inp.stage_id, []).append((stage, inp))
    return readers


# Join types whose build (left) side rows are emitted after every probe partition finished.
_BUILD_SIDE_EMITTING = ("join_type=Left,", "join_type=Full,", "join_type=LeftSemi,", "join_type=LeftAnti,",
                        "join_type=LeftMark,")  # fmt: skip


def _needs_one_instance(node: PlanNode, boundaries: dict[int, int]) -> bool:
    """Whether the stage holds a join that must see all its probe partitions in one plan."""
    if id(node) in boundaries:
        return False
    detail = node.detail + ","
    collects_left = node.name == "NestedLoopJoinExec" or (
        node.name == "HashJoinExec" and "mode=CollectLeft" in detail
    )
    if collects_left and any(kind in detail for kind in _BUILD_SIDE_EMITTING):
        return True
    return any(_needs_one_instance(child, boundaries) for child in node.children)


def _file_scans(node: PlanNode, boundaries: dict[int, int]) -> list[PlanNode]:
    """File-scan leaves of a stage whose file groups match their partitions."""
    if id(node) in boundaries:
        return []
    if not node.children:
        ok = node.name == "DataSourceExec" and file_group_count(node.data) == node.partitions
        return [node] if ok else []
    return [leaf for child in node.children for leaf in _file_scans(child, boundaries)]


def _leaves_are_inputs(node: PlanNode, boundaries: dict[int, int]) -> bool:
    if id(node) in boundaries:
        return True
    if not node.children:
        return False
    return all(_leaves_are_inputs(child, boundaries) for child in node.children)


def _broadcast_reads(reads: list[dict[int, list[int]]], widths: dict[int, int]) -> set[int]:
    """Inputs every task reads whole: the build sides of broadcast joins.

    Such an input is collected once per plan instance (a CollectLeft join's build
    side, a cross join's left side), so a task running every partition of the
    stage reads it whole while reading only its share of the other inputs.
    """
    if len(reads) < 2:
        return set()
    keys = set().union(*(task.keys() for task in reads))
    return {
        key
        for key in keys
        if key in widths and all(set(task.get(key, ())) == set(range(widths[key])) for task in reads)
    }


def _disjoint_reads(reads: list[dict[int, list[int]]], shared: AbstractSet[int] = frozenset()) -> bool:
    """Whether tasks read disjoint partitions of every input not in ``shared``."""
    seen: set[tuple[int, int]] = set()
    for task in reads:
        for stage_id, partitions in task.items():
            if stage_id in shared:
                continue
            for part in partitions:
                if (stage_id, part) in seen:
                    return False
                seen.add((stage_id, part))
    return True


def task_reads(node: PlanNode, partition: int, boundaries: dict[int, int]) -> dict[int, list[int]]:
    """Which partitions of each input stage task ``partition`` of ``node`` reads.

    Operators that map partition ``p`` to partition ``p`` of their children are
    followed precisely; unions map by offset; a single-partition child is read
    at 0; anything else reads all of the child's partitions, which is always
    correct, only wasteful.
    """
    found: dict[int, set[int]] = {}

    def visit(n: PlanNode, p: int) -> None:
        stage_id = boundaries.get(id(n))
        if stage_id is not None:
            found.setdefault(stage_id, set()).add(p)
            return
        if n.name == "UnionExec" and sum(c.partitions for c in n.children) == n.partitions:
            offset = 0
            for child in n.children:
                if offset <= p < offset + child.partitions:
                    visit(child, p - offset)
                offset += child.partitions
            return
        for child in n.children:
            if child.partitions == n.partitions:
                visit(child, p)
            elif child.partitions == 1:
                visit(child, 0)
            else:
                for q in range(child.partitions):
                    visit(child, q)

    visit(node, partition)
    return {k: sorted(v) for k, v in found.items()}


def render(stages: list[Stage]) -> str:
    """Text of the distributed plan: each stage's operators, with shuffle reads at its leaves."""
    lines: list[str] = []
    for stage in reversed(stages):
        if stage.output is ExchangeKind.REPARTITION:
            out = f"writes {stage.buckets} shuffle partitions"
        elif stage.output is ExchangeKind.MERGE:
            out = "writes 1 shuffle partition per task"
        elif stage.output is ExchangeKind.WRITE and stage.sink is not None:
            out = f"writes files to {stage.sink.url}"
        else:
            out = "streams the result"
        tasks = "task" if stage.tasks == 1 else "tasks"
        one = f" (all {stage.partitions} partitions in one plan)" if stage.single_task else ""
        lines.append(f"Stage {stage.stage_id}: {stage.tasks} {tasks}{one}, {out}")
        reads = {id(i.node): i for i in stage.inputs}

        def visit(node: PlanNode, depth: int, reads: dict[int, StageInput] = reads) -> None:
            pad = "  " * depth
            inp = reads.get(id(node))
            if inp is not None:
                how = (
                    f"partitioning={node.detail.split('partitioning=', 1)[-1].split(', input_', 1)[0]}"
                    if inp.kind is ExchangeKind.REPARTITION
                    else "one partition per task"
                )
                lines.append(
                    f"{pad}ShuffleReadExec: stage={inp.stage_id}, partitions={inp.partitions}, {how}"
                )
                return
            lines.append(pad + node.detail)
            for child in node.children:
                visit(child, depth + 1)

        visit(stage.root, 1)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def to_dot(stages: list[Stage]) -> str:
    """The stage graph in Graphviz DOT."""
    lines = ["digraph stages {", "  rankdir=BT;"]
    for stage in stages:
        label = f"Stage {stage.stage_id}\\n{stage.partitions} tasks\\n{stage.root.name}"
        lines.append(f'  s{stage.stage_id} [shape=box, label="{label}"];')
        for inp in stage.inputs:
            lines.append(f'  s{inp.stage_id} -> s{stage.stage_id} [label="{inp.kind.value}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
