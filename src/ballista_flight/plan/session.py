"""DataFusion session settings shared by the scheduler and every executor."""

from __future__ import annotations

import pyarrow as pa
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext

# Without these a plan cannot run one partition at a time in isolation:
# defaults hang or return wrong rows (see DESIGN.md section 2).
REQUIRED_SETTINGS: dict[str, str] = {
    "datafusion.execution.enable_file_stream_work_stealing": "false",
    "datafusion.optimizer.enable_dynamic_filter_pushdown": "false",
    "datafusion.optimizer.enable_physical_uncorrelated_scalar_subquery": "false",
    # A repartition that preserves order would need a merge per bucket.
    "datafusion.optimizer.prefer_existing_sort": "false",
    "datafusion.catalog.information_schema": "true",
}


def make_context(
    target_partitions: int, settings: dict[str, str] | None = None, runtime: RuntimeEnvBuilder | None = None
) -> SessionContext:
    """A SessionContext with the settings distributed execution relies on."""
    options = dict(settings or {})
    options.update(REQUIRED_SETTINGS)
    config = SessionConfig(options).with_target_partitions(max(1, target_partitions))
    return SessionContext(config, runtime)


def memory_scan(partitions: list[list[pa.RecordBatch]], schema: pa.Schema) -> bytes:
    """Encoded plan of an in-memory scan with exactly these partitions."""
    ctx = SessionContext()
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    ctx.register_record_batches("t", [part or [empty] for part in partitions])
    plan = ctx.table("t").execution_plan()
    return plan.to_bytes()


_placeholders: dict[str, bytes] = {}


def placeholder(name: str) -> bytes:
    """Unique, tiny plan bytes standing for a shuffle input until an executor fills it."""
    cached = _placeholders.get(name)
    if cached is None:
        schema = pa.schema([pa.field(f"__ballista_flight_placeholder_{name}", pa.int8())])
        cached = memory_scan([[]], schema)
        _placeholders[name] = cached
    return cached
