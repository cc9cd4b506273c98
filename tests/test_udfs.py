"""UDF wire form: the scheduler's stand-in plans but never runs; executors load the real code."""

from __future__ import annotations

import pickle
import sys
import types

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datafusion import ExecutionPlan, SessionContext, udf

from ballista_flight import udfs
from ballista_flight.errors import TaskFailed
from ballista_flight.proto import ballista_flight_pb2 as pb


def _plus(n: int) -> object:
    return udf(lambda a: pc.add(a, n), [pa.int64()], pa.int64(), "immutable", name="plus_n")


def test_stand_in_plans_and_the_loaded_function_runs() -> None:
    wire = udfs.describe(_plus(5))  # type: ignore[arg-type]
    assert wire.kind == pb.FUNCTION_SCALAR
    assert wire.name == "plus_n"
    scheduler = SessionContext().with_python_udf_inlining(enabled=False)
    udfs.register(scheduler, udfs.stand_in(wire))
    scheduler.register_record_batches("t", [[pa.record_batch({"x": [1, 2]})]])
    df = scheduler.sql("SELECT plus_n(x) AS y FROM t WHERE plus_n(1) = 6")
    plan = df.execution_plan().to_bytes(scheduler)
    assert b"cloudpickle" not in plan
    assert udfs.referenced([wire], [plan]) == [wire]
    with pytest.raises(Exception, match="stand-in"):
        df.to_arrow_table()
    executor = SessionContext().with_python_udf_inlining(enabled=False)
    udfs.load(executor, [wire], "e1")
    decoded = ExecutionPlan.from_bytes(executor, plan)
    rows = [b.to_pyarrow() for p in range(decoded.partition_count) for b in executor.execute(decoded, p)]
    assert pa.Table.from_batches(rows).column("y").to_pylist() == [6, 7]


def test_unloadable_code_names_the_function_and_module() -> None:
    wire = udfs.describe(_plus(1))  # type: ignore[arg-type]
    # Code referring, by reference, to a module that exists only while it is pickled.
    module = types.ModuleType("no_such_mod1")

    def helper() -> None: ...

    helper.__module__, helper.__qualname__ = "no_such_mod1", "helper"
    module.helper = helper  # type: ignore[attr-defined]
    sys.modules["no_such_mod1"] = module
    try:
        wire.code = pickle.dumps(helper)
    finally:
        del sys.modules["no_such_mod1"]
    with pytest.raises(
        TaskFailed, match=r"'plus_n' cannot be loaded on executor e1: missing module 'no_such_mod1'"
    ):
        udfs.load(SessionContext(), [wire], "e1")


def test_functions_not_in_a_plan_are_not_shipped() -> None:
    wire = udfs.describe(_plus(1))  # type: ignore[arg-type]
    assert udfs.referenced([wire], [b"\x07other_n"]) == []
