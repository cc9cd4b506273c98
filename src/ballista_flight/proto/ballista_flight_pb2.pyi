from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutputKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_UNSPECIFIED: _ClassVar[OutputKind]
    OUTPUT_REPARTITION: _ClassVar[OutputKind]
    OUTPUT_MERGE: _ClassVar[OutputKind]
    OUTPUT_RESULT: _ClassVar[OutputKind]
    OUTPUT_WRITE: _ClassVar[OutputKind]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_QUEUED: _ClassVar[JobState]
    JOB_RUNNING: _ClassVar[JobState]
    JOB_RESULTS_READY: _ClassVar[JobState]
    JOB_SUCCEEDED: _ClassVar[JobState]
    JOB_FAILED: _ClassVar[JobState]
    JOB_CANCELLED: _ClassVar[JobState]

class FunctionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUNCTION_UNSPECIFIED: _ClassVar[FunctionKind]
    FUNCTION_SCALAR: _ClassVar[FunctionKind]
    FUNCTION_AGGREGATE: _ClassVar[FunctionKind]
    FUNCTION_WINDOW: _ClassVar[FunctionKind]
OUTPUT_UNSPECIFIED: OutputKind
OUTPUT_REPARTITION: OutputKind
OUTPUT_MERGE: OutputKind
OUTPUT_RESULT: OutputKind
OUTPUT_WRITE: OutputKind
JOB_STATE_UNSPECIFIED: JobState
JOB_QUEUED: JobState
JOB_RUNNING: JobState
JOB_RESULTS_READY: JobState
JOB_SUCCEEDED: JobState
JOB_FAILED: JobState
JOB_CANCELLED: JobState
FUNCTION_UNSPECIFIED: FunctionKind
FUNCTION_SCALAR: FunctionKind
FUNCTION_AGGREGATE: FunctionKind
FUNCTION_WINDOW: FunctionKind

class SignedTicket(_message.Message):
    __slots__ = ("payload", "signature", "expires_at_ms")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    signature: bytes
    expires_at_ms: int
    def __init__(self, payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("task", "fetch", "result", "expires_at_ms")
    TASK_FIELD_NUMBER: _ClassVar[int]
    FETCH_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    task: TaskTicket
    fetch: FetchTicket
    result: ResultTicket
    expires_at_ms: int
    def __init__(self, task: _Optional[_Union[TaskTicket, _Mapping]] = ..., fetch: _Optional[_Union[FetchTicket, _Mapping]] = ..., result: _Optional[_Union[ResultTicket, _Mapping]] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class MapOutputLocation(_message.Message):
    __slots__ = ("map_partition", "executor_id", "uri", "empty")
    MAP_PARTITION_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    map_partition: int
    executor_id: str
    uri: str
    empty: bool
    def __init__(self, map_partition: _Optional[int] = ..., executor_id: _Optional[str] = ..., uri: _Optional[str] = ..., empty: _Optional[bool] = ...) -> None: ...

class ShuffleInput(_message.Message):
    __slots__ = ("stage_id", "kind", "partitions", "placeholder", "read_partitions", "locations", "original", "schema")
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
    READ_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    stage_id: int
    kind: OutputKind
    partitions: int
    placeholder: bytes
    read_partitions: _containers.RepeatedScalarFieldContainer[int]
    locations: _containers.RepeatedCompositeFieldContainer[MapOutputLocation]
    original: bytes
    schema: bytes
    def __init__(self, stage_id: _Optional[int] = ..., kind: _Optional[_Union[OutputKind, str]] = ..., partitions: _Optional[int] = ..., placeholder: _Optional[bytes] = ..., read_partitions: _Optional[_Iterable[int]] = ..., locations: _Optional[_Iterable[_Union[MapOutputLocation, _Mapping]]] = ..., original: _Optional[bytes] = ..., schema: _Optional[bytes] = ...) -> None: ...

class TaskTicket(_message.Message):
    __slots__ = ("job_id", "stage_id", "partition", "attempt", "plan", "inputs", "output", "partitioner", "output_placeholder", "buckets", "result_schema", "settings", "scheduler_uri", "whole_stage", "all_partitions", "stage_partitions", "sink", "write_dir", "sink_url", "functions", "object_stores", "single_file", "sink_whole", "analyze", "run_partitions")
    class SettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PARTITIONER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    RESULT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_URI_FIELD_NUMBER: _ClassVar[int]
    WHOLE_STAGE_FIELD_NUMBER: _ClassVar[int]
    ALL_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    STAGE_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    SINK_FIELD_NUMBER: _ClassVar[int]
    WRITE_DIR_FIELD_NUMBER: _ClassVar[int]
    SINK_URL_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    OBJECT_STORES_FIELD_NUMBER: _ClassVar[int]
    SINGLE_FILE_FIELD_NUMBER: _ClassVar[int]
    SINK_WHOLE_FIELD_NUMBER: _ClassVar[int]
    ANALYZE_FIELD_NUMBER: _ClassVar[int]
    RUN_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stage_id: int
    partition: int
    attempt: int
    plan: bytes
    inputs: _containers.RepeatedCompositeFieldContainer[ShuffleInput]
    output: OutputKind
    partitioner: bytes
    output_placeholder: bytes
    buckets: int
    result_schema: bytes
    settings: _containers.ScalarMap[str, str]
    scheduler_uri: str
    whole_stage: bool
    all_partitions: bool
    stage_partitions: int
    sink: bytes
    write_dir: str
    sink_url: str
    functions: _containers.RepeatedCompositeFieldContainer[UserFunction]
    object_stores: _containers.RepeatedScalarFieldContainer[str]
    single_file: bool
    sink_whole: bytes
    analyze: bool
    run_partitions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, job_id: _Optional[str] = ..., stage_id: _Optional[int] = ..., partition: _Optional[int] = ..., attempt: _Optional[int] = ..., plan: _Optional[bytes] = ..., inputs: _Optional[_Iterable[_Union[ShuffleInput, _Mapping]]] = ..., output: _Optional[_Union[OutputKind, str]] = ..., partitioner: _Optional[bytes] = ..., output_placeholder: _Optional[bytes] = ..., buckets: _Optional[int] = ..., result_schema: _Optional[bytes] = ..., settings: _Optional[_Mapping[str, str]] = ..., scheduler_uri: _Optional[str] = ..., whole_stage: _Optional[bool] = ..., all_partitions: _Optional[bool] = ..., stage_partitions: _Optional[int] = ..., sink: _Optional[bytes] = ..., write_dir: _Optional[str] = ..., sink_url: _Optional[str] = ..., functions: _Optional[_Iterable[_Union[UserFunction, _Mapping]]] = ..., object_stores: _Optional[_Iterable[str]] = ..., single_file: _Optional[bool] = ..., sink_whole: _Optional[bytes] = ..., analyze: _Optional[bool] = ..., run_partitions: _Optional[_Iterable[int]] = ...) -> None: ...

class FetchTicket(_message.Message):
    __slots__ = ("job_id", "stage_id", "map_partition", "bucket")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MAP_PARTITION_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stage_id: int
    map_partition: int
    bucket: int
    def __init__(self, job_id: _Optional[str] = ..., stage_id: _Optional[int] = ..., map_partition: _Optional[int] = ..., bucket: _Optional[int] = ...) -> None: ...

class ResultTicket(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class TaskStatus(_message.Message):
    __slots__ = ("job_id", "stage_id", "partition", "executor_id", "rows", "bytes", "bucket_rows", "empty", "elapsed_s", "bytes_fetched_remote", "bytes_read_local", "schema", "fetch_s", "plan_s", "execute_s", "partition_s", "map_rows", "remote_fetch_s", "written_dir", "attempt", "operators", "start_s", "end_s", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    BUCKET_ROWS_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    BYTES_FETCHED_REMOTE_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_LOCAL_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FETCH_S_FIELD_NUMBER: _ClassVar[int]
    PLAN_S_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_S_FIELD_NUMBER: _ClassVar[int]
    PARTITION_S_FIELD_NUMBER: _ClassVar[int]
    MAP_ROWS_FIELD_NUMBER: _ClassVar[int]
    REMOTE_FETCH_S_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_DIR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stage_id: int
    partition: int
    executor_id: str
    rows: int
    bytes: int
    bucket_rows: _containers.RepeatedScalarFieldContainer[int]
    empty: bool
    elapsed_s: float
    bytes_fetched_remote: int
    bytes_read_local: int
    schema: bytes
    fetch_s: float
    plan_s: float
    execute_s: float
    partition_s: float
    map_rows: _containers.RepeatedScalarFieldContainer[int]
    remote_fetch_s: float
    written_dir: str
    attempt: int
    operators: _containers.RepeatedCompositeFieldContainer[OperatorMetrics]
    start_s: float
    end_s: float
    error: str
    def __init__(self, job_id: _Optional[str] = ..., stage_id: _Optional[int] = ..., partition: _Optional[int] = ..., executor_id: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., bucket_rows: _Optional[_Iterable[int]] = ..., empty: _Optional[bool] = ..., elapsed_s: _Optional[float] = ..., bytes_fetched_remote: _Optional[int] = ..., bytes_read_local: _Optional[int] = ..., schema: _Optional[bytes] = ..., fetch_s: _Optional[float] = ..., plan_s: _Optional[float] = ..., execute_s: _Optional[float] = ..., partition_s: _Optional[float] = ..., map_rows: _Optional[_Iterable[int]] = ..., remote_fetch_s: _Optional[float] = ..., written_dir: _Optional[str] = ..., attempt: _Optional[int] = ..., operators: _Optional[_Iterable[_Union[OperatorMetrics, _Mapping]]] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class OperatorMetrics(_message.Message):
    __slots__ = ("index", "depth", "name", "detail", "output_rows", "elapsed_compute_ns", "spill_count", "spilled_bytes", "spilled_rows", "input_stage", "output_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ROWS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_COMPUTE_NS_FIELD_NUMBER: _ClassVar[int]
    SPILL_COUNT_FIELD_NUMBER: _ClassVar[int]
    SPILLED_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPILLED_ROWS_FIELD_NUMBER: _ClassVar[int]
    INPUT_STAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: int
    depth: int
    name: str
    detail: str
    output_rows: int
    elapsed_compute_ns: int
    spill_count: int
    spilled_bytes: int
    spilled_rows: int
    input_stage: int
    output_bytes: int
    def __init__(self, index: _Optional[int] = ..., depth: _Optional[int] = ..., name: _Optional[str] = ..., detail: _Optional[str] = ..., output_rows: _Optional[int] = ..., elapsed_compute_ns: _Optional[int] = ..., spill_count: _Optional[int] = ..., spilled_bytes: _Optional[int] = ..., spilled_rows: _Optional[int] = ..., input_stage: _Optional[int] = ..., output_bytes: _Optional[int] = ...) -> None: ...

class StageStatus(_message.Message):
    __slots__ = ("stage_id", "tasks", "tasks_done", "output", "rows", "bytes", "start_s", "end_s", "inputs", "operator", "partitions")
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_DONE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    stage_id: int
    tasks: int
    tasks_done: int
    output: str
    rows: int
    bytes: int
    start_s: float
    end_s: float
    inputs: _containers.RepeatedScalarFieldContainer[int]
    operator: str
    partitions: int
    def __init__(self, stage_id: _Optional[int] = ..., tasks: _Optional[int] = ..., tasks_done: _Optional[int] = ..., output: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., inputs: _Optional[_Iterable[int]] = ..., operator: _Optional[str] = ..., partitions: _Optional[int] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "state", "sql", "stages", "error", "elapsed_s", "started_at", "tasks", "tasks_done", "rows_shuffled", "bytes_shuffled", "executors")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_DONE_FIELD_NUMBER: _ClassVar[int]
    ROWS_SHUFFLED_FIELD_NUMBER: _ClassVar[int]
    BYTES_SHUFFLED_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    sql: str
    stages: _containers.RepeatedCompositeFieldContainer[StageStatus]
    error: str
    elapsed_s: float
    started_at: float
    tasks: int
    tasks_done: int
    rows_shuffled: int
    bytes_shuffled: int
    executors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., sql: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[StageStatus, _Mapping]]] = ..., error: _Optional[str] = ..., elapsed_s: _Optional[float] = ..., started_at: _Optional[float] = ..., tasks: _Optional[int] = ..., tasks_done: _Optional[int] = ..., rows_shuffled: _Optional[int] = ..., bytes_shuffled: _Optional[int] = ..., executors: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecutorRegistration(_message.Message):
    __slots__ = ("executor_id", "uri", "slots", "datafusion_version", "ballista_flight_version", "shuffle_mode")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    DATAFUSION_VERSION_FIELD_NUMBER: _ClassVar[int]
    BALLISTA_FLIGHT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_MODE_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    uri: str
    slots: int
    datafusion_version: str
    ballista_flight_version: str
    shuffle_mode: str
    def __init__(self, executor_id: _Optional[str] = ..., uri: _Optional[str] = ..., slots: _Optional[int] = ..., datafusion_version: _Optional[str] = ..., ballista_flight_version: _Optional[str] = ..., shuffle_mode: _Optional[str] = ...) -> None: ...

class RegistrationResponse(_message.Message):
    __slots__ = ("cluster_secret", "heartbeat_interval_ms")
    CLUSTER_SECRET_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    cluster_secret: bytes
    heartbeat_interval_ms: int
    def __init__(self, cluster_secret: _Optional[bytes] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("executor_id", "running_tasks", "shuffle_bytes", "spilled_bytes", "memory_bytes")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TASKS_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPILLED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    running_tasks: int
    shuffle_bytes: int
    spilled_bytes: int
    memory_bytes: int
    def __init__(self, executor_id: _Optional[str] = ..., running_tasks: _Optional[int] = ..., shuffle_bytes: _Optional[int] = ..., spilled_bytes: _Optional[int] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("known",)
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    known: bool
    def __init__(self, known: _Optional[bool] = ...) -> None: ...

class ReleaseJob(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class SubstraitPlanCommand(_message.Message):
    __slots__ = ("plan", "explain", "copy")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    COPY_FIELD_NUMBER: _ClassVar[int]
    plan: bytes
    explain: bool
    copy: CopyTarget
    def __init__(self, plan: _Optional[bytes] = ..., explain: _Optional[bool] = ..., copy: _Optional[_Union[CopyTarget, _Mapping]] = ...) -> None: ...

class CopyTarget(_message.Message):
    __slots__ = ("path", "format", "partition_by", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PARTITION_BY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    path: str
    format: str
    partition_by: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.ScalarMap[str, str]
    def __init__(self, path: _Optional[str] = ..., format: _Optional[str] = ..., partition_by: _Optional[_Iterable[str]] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UserFunction(_message.Message):
    __slots__ = ("name", "kind", "input_schema", "return_schema", "state_schema", "volatility", "code", "python_version", "uses_window_frame", "supports_bounded_execution", "include_rank", "is_causal")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RETURN_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    STATE_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    VOLATILITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    USES_WINDOW_FRAME_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_BOUNDED_EXECUTION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RANK_FIELD_NUMBER: _ClassVar[int]
    IS_CAUSAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: FunctionKind
    input_schema: bytes
    return_schema: bytes
    state_schema: bytes
    volatility: str
    code: bytes
    python_version: str
    uses_window_frame: bool
    supports_bounded_execution: bool
    include_rank: bool
    is_causal: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[FunctionKind, str]] = ..., input_schema: _Optional[bytes] = ..., return_schema: _Optional[bytes] = ..., state_schema: _Optional[bytes] = ..., volatility: _Optional[str] = ..., code: _Optional[bytes] = ..., python_version: _Optional[str] = ..., uses_window_frame: _Optional[bool] = ..., supports_bounded_execution: _Optional[bool] = ..., include_rank: _Optional[bool] = ..., is_causal: _Optional[bool] = ...) -> None: ...
