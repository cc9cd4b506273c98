"""Python user-defined functions in distributed queries.

The client registers functions made with DataFusion's ``udf``/``udaf``/``udwf``.
Their code and signatures travel as a ``UserFunction`` message (the code
cloudpickled: closures and their captured values travel by value, imported
modules by name). The scheduler plans with a *stand-in* of the same name and
signature that refuses to run, so user code never runs in the scheduler; it
encodes plans with UDFs by name only (no inlined code). Each task carries the
functions its plan calls, and the executor registers the real ones in that
task's session before decoding the plan.
"""

from __future__ import annotations

import pickle
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import cloudpickle
import pyarrow as pa
from datafusion import AggregateUDF, ScalarUDF, WindowUDF
from datafusion.user_defined import WindowEvaluator

from ballista_flight.errors import PlanningError, TaskFailed
from ballista_flight.plan.protowire import encode_varint
from ballista_flight.proto import ballista_flight_pb2 as pb

if TYPE_CHECKING:
    from datafusion import SessionContext

UserDefined = ScalarUDF | AggregateUDF | WindowUDF

# DataFusion 55 inlines a Python UDF into its expression bytes as this marker, a
# format byte, the Python (major, minor) and a pickle of the UDF's definition.
_MARKERS = {b"DFPYUDF": pb.FUNCTION_SCALAR, b"DFPYUDA": pb.FUNCTION_AGGREGATE, b"DFPYUDW": pb.FUNCTION_WINDOW}
_HEADER = 10
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def _schema_bytes(data: bytes | pa.Schema) -> bytes:
    schema = data if isinstance(data, pa.Schema) else pa.ipc.read_schema(pa.py_buffer(data))
    return bytes(schema.serialize().to_pybytes())


def describe(function: UserDefined) -> pb.UserFunction:
    """The wire form of a Python UDF made with ``datafusion.udf``/``udaf``/``udwf`` (client side).

    DataFusion keeps the Python callable inside its native object; its own
    expression encoding is the one place that hands it back, with the
    signature, so the definition is read from there.
    """
    try:
        data = function().to_bytes()
    except Exception as exc:
        msg = f"cannot serialize function {function.name!r}: {exc}"
        raise PlanningError(msg) from exc
    found = [(data.find(marker), kind) for marker, kind in _MARKERS.items() if marker in data]
    if not found:
        msg = (
            f"function {function.name!r} is not a Python function made with datafusion's udf/udaf/udwf "
            "(FFI functions cannot travel to the executors)"
        )
        raise PlanningError(msg)
    at, kind = found[0]
    definition = pickle.loads(data[at + _HEADER :])  # our own process's object: safe to load
    name, code = definition[0], definition[1]
    out = pb.UserFunction(
        name=name,
        kind=kind,
        input_schema=_schema_bytes(definition[2]),
        return_schema=_schema_bytes(definition[3]),
        volatility=str(definition[-1]),
        code=cloudpickle.dumps(code),
        python_version=PYTHON_VERSION,
    )
    if kind == pb.FUNCTION_AGGREGATE:
        out.state_schema = _schema_bytes(definition[4])
    if kind == pb.FUNCTION_WINDOW:
        # DataFusion asks an evaluator these while planning: ask here, where user code may run.
        evaluator = code()
        out.uses_window_frame = bool(evaluator.uses_window_frame())
        out.supports_bounded_execution = bool(evaluator.supports_bounded_execution())
        out.include_rank = bool(evaluator.include_rank())
        out.is_causal = bool(evaluator.is_causal())
    return out


def _schema(data: bytes) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(data))


def build(fn: pb.UserFunction, code: Any) -> UserDefined:
    """A DataFusion function of ``fn``'s signature that runs ``code``."""
    inputs = _schema(fn.input_schema)
    result = _schema(fn.return_schema)
    if len(result) != 1:
        msg = f"function {fn.name!r}: the return schema must have exactly one field"
        raise PlanningError(msg)
    if fn.kind == pb.FUNCTION_SCALAR:
        return ScalarUDF(fn.name, code, list(inputs), result.field(0), fn.volatility)
    if fn.kind == pb.FUNCTION_AGGREGATE:
        state = _schema(fn.state_schema)
        return AggregateUDF(fn.name, code, inputs.types, result.field(0).type, state.types, fn.volatility)
    if fn.kind == pb.FUNCTION_WINDOW:
        return WindowUDF(fn.name, code, inputs.types, result.field(0).type, fn.volatility)
    msg = f"function {fn.name!r} has an unknown kind {fn.kind}"
    raise PlanningError(msg)


def _refuse(name: str) -> NoReturn:
    msg = f"function {name!r} is a stand-in: Python functions run only on executors"
    raise RuntimeError(msg)


def stand_in(fn: pb.UserFunction) -> UserDefined:
    """A function the scheduler plans with: ``fn``'s name and signature, refusing to run.

    DataFusion's optimizer tries to evaluate immutable functions of constants
    while planning; the stand-in refuses, and the call stays in the plan for the
    executors to evaluate with the real function.
    """
    name = fn.name

    def scalar(*_: object) -> NoReturn:
        _refuse(name)

    def factory() -> NoReturn:
        _refuse(name)

    if fn.kind == pb.FUNCTION_SCALAR:
        return build(fn, scalar)
    if fn.kind == pb.FUNCTION_WINDOW:
        return build(fn, lambda: _StandInEvaluator(fn))
    return build(fn, factory)


class _StandInEvaluator(WindowEvaluator):
    """Answers DataFusion's planning questions as the client's evaluator did; refuses to evaluate."""

    def __init__(self, fn: pb.UserFunction) -> None:
        self._fn = fn

    def uses_window_frame(self) -> bool:
        return self._fn.uses_window_frame

    def supports_bounded_execution(self) -> bool:
        return self._fn.supports_bounded_execution

    def include_rank(self) -> bool:
        return self._fn.include_rank

    def is_causal(self) -> bool:
        return self._fn.is_causal

    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        _refuse(self._fn.name)

    def evaluate(self, values: list[pa.Array], eval_range: tuple[int, int]) -> pa.Scalar:
        _refuse(self._fn.name)

    def evaluate_all_with_rank(self, num_rows: int, ranks_in_partition: list[tuple[int, int]]) -> pa.Array:
        _refuse(self._fn.name)


def register(ctx: SessionContext, function: UserDefined) -> None:
    """Register any kind of function in ``ctx``."""
    if isinstance(function, ScalarUDF):
        ctx.register_udf(function)
    elif isinstance(function, AggregateUDF):
        ctx.register_udaf(function)
    else:
        ctx.register_udwf(function)


def referenced(functions: list[pb.UserFunction], plans: list[bytes]) -> list[pb.UserFunction]:
    """The functions whose names appear (as encoded strings) in any of ``plans``."""
    out = []
    for fn in functions:
        encoded = encode_varint(len(fn.name.encode())) + fn.name.encode()
        if any(encoded in plan for plan in plans):
            out.append(fn)
    return out


def load(ctx: SessionContext, functions: list[pb.UserFunction], executor_id: str) -> None:
    """Unpickle and register a task's functions in its session (executor side).

    A function whose code needs a module this executor lacks fails the task with
    a message naming the function and the module.
    """
    for fn in functions:
        where = f"Python function {fn.name!r} cannot be loaded on executor {executor_id}"
        if fn.python_version and fn.python_version != PYTHON_VERSION:
            msg = (
                f"{where}: it was pickled by Python {fn.python_version}, this executor runs {PYTHON_VERSION}"
            )
            raise TaskFailed(msg)
        try:
            code = cloudpickle.loads(fn.code)
        except ModuleNotFoundError as exc:
            msg = f"{where}: missing module {exc.name!r} ({exc})"
            raise TaskFailed(msg) from exc
        except Exception as exc:
            msg = f"{where}: {type(exc).__name__}: {exc}"
            raise TaskFailed(msg) from exc
        register(ctx, build(fn, code))
