"""Configuration of the scheduler and executors.

One pydantic model per role; every field is a CLI flag and an environment
variable (``BALLISTA_FLIGHT_<FIELD>``). The CLI builds the model once and hands
it to the server, which never reads the environment itself.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from enum import Enum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

ENV_PREFIX = "BALLISTA_FLIGHT_"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}  # fmt: skip


def parse_size(value: str | int) -> int:
    """Parse ``"1GiB"``, ``"512MB"`` or a byte count."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match or (match.group(2) or "").lower() not in _UNITS:
        msg = f"not a size: {value!r} (use e.g. 512MiB, 2GiB, 1000000)"
        raise ValueError(msg)
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


class ShuffleMode(str, Enum):
    """Where executors keep shuffle partitions."""

    MEMORY = "memory"
    DISK = "disk"


class SecurityConfig(BaseModel):
    """Authentication and TLS settings, the same on the scheduler and every executor."""

    auth_enabled: bool = Field(
        False,
        description="Require a bearer token (or Basic credentials on the scheduler) on every call; "
        "needs --cluster-secret, the same on the scheduler and every executor.",
    )
    auth_tokens: str = Field("", description="Comma-separated static bearer tokens to accept.")
    auth_token_ttl_s: float = Field(
        12 * 3600.0, description="Lifetime of the bearer tokens the scheduler issues on Basic login."
    )
    cluster_secret: str = Field(
        "",
        description="Secret that signs tickets and tokens (default: random per scheduler start; "
        "required with --auth-enabled). Prefer the environment variable to the flag.",
    )
    tls_cert: str = Field("", description="PEM certificate to serve TLS with (grpc+tls://).")
    tls_key: str = Field("", description="PEM private key of --tls-cert.")
    tls_ca: str = Field(
        "", description="PEM CA certificate(s) to verify the other processes (and clients, with mTLS)."
    )
    tls_client_auth: bool = Field(
        False, description="Mutual TLS: refuse clients without a certificate signed by --tls-ca."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.auth_enabled and not self.cluster_secret:
            msg = "--auth-enabled needs --cluster-secret (the same on the scheduler and every executor)"
            raise ValueError(msg)
        if bool(self.tls_cert) != bool(self.tls_key):
            msg = "--tls-cert and --tls-key go together"
            raise ValueError(msg)
        if self.tls_client_auth and not (self.tls_cert and self.tls_ca):
            msg = "--tls-client-auth needs --tls-cert, --tls-key and --tls-ca"
            raise ValueError(msg)
        return self


class ObjectStoreConfig(BaseModel):
    """S3-compatible storage for ``s3://`` tables and write targets (scheduler and executors).

    Empty settings fall back to the standard AWS environment variables.
    """

    s3_endpoint: str = Field(
        "",
        description="S3 endpoint URL for s3:// paths, e.g. a MinIO service (default: $AWS_ENDPOINT_URL or AWS).",
    )
    s3_region: str = Field(
        "", description="S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION or us-east-1)."
    )
    s3_access_key_id: str = Field("", description="S3 access key id (default: $AWS_ACCESS_KEY_ID).")
    s3_secret_access_key: str = Field(
        "", description="S3 secret access key (default: $AWS_SECRET_ACCESS_KEY)."
    )
    s3_allow_http: bool = Field(False, description="Allow an http:// (unencrypted) S3 endpoint.")


class SchedulerConfig(SecurityConfig, ObjectStoreConfig):
    """Settings of the scheduler process."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(50050, description="Flight port to listen on (0 picks a free one).")
    advertise_host: str = Field(
        "", description="Host name clients use to reach the scheduler (default: --host)."
    )
    shuffle_partitions: int = Field(
        0,
        description="Shuffle partitions per exchange (DataFusion target_partitions); "
        "0 = the total slots of the registered executors.",
    )
    broadcast_join_bytes: int = Field(
        4_000_000,
        description="Hash joins whose smaller side is estimated under this many bytes broadcast it "
        "to every task instead of shuffling both sides (DataFusion's "
        "hash_join_single_partition_threshold; 0 never broadcasts).",
    )
    broadcast_join_rows: int = Field(
        400_000,
        description="The same, in rows, for a side whose size in bytes is unknown "
        "(hash_join_single_partition_threshold_rows).",
    )
    batch_size: int = Field(
        32768,
        description="Rows per batch in plans and tasks (datafusion.execution.batch_size; DataFusion's "
        "default is 8192; SET overrides it per session). Fewer, bigger batches cost less to move "
        "through shuffles, Flight streams and Python; operators hold more memory per batch.",
        ge=1,
    )
    small_query_bytes: int = Field(
        100_000_000,
        description="Queries whose files add up to fewer bytes run as one task on one executor, "
        "their exchanges in memory: distributing them costs more than it saves (0 = always "
        "distribute).",
    )
    tiny_stage_bytes: int = Field(
        1 << 20,
        description="A stage that reads only shuffle outputs adding up to fewer bytes (the "
        "final aggregate of most queries) runs as one task instead of one per partition, inside "
        "the result stage when that stage reads nothing else (0 = never).",
        ge=0,
    )
    http_port: int = Field(
        -1, description="HTTP port for /healthz, /readyz and /metrics (0 picks a free one, -1 disables)."
    )
    proxy_results: bool = Field(
        False,
        description="Serve query results through the scheduler instead of pointing "
        "clients at the executors (for clients that cannot reach executors).",
    )
    heartbeat_timeout_s: float = Field(15.0, description="An executor silent this long is considered lost.")
    executor_wait_s: float = Field(
        30.0, description="How long a query waits for an executor slot before failing."
    )
    result_ttl_s: float = Field(600.0, description="Results not fetched within this time are dropped.")
    task_attempts: int = Field(
        4,
        description="Attempts of a failing task (its error, its executor or an input's executor lost) "
        "before the query fails.",
    )
    auth_users: str = Field(
        "",
        description="Users allowed to log in with Basic credentials: user:password[,user:password] "
        "(use the environment variable, not the flag, to keep passwords out of ps).",
    )
    data_roots: str = Field(
        "",
        description="Comma-separated directories that CREATE EXTERNAL TABLE and COPY TO may use "
        "(symlinks and '..' resolved); empty = no confinement.",
    )
    job_history: int = Field(
        1000, ge=1, description="Finished jobs kept for job_status, list_jobs and the web page."
    )

    @model_validator(mode="after")
    def _someone_can_log_in(self) -> Self:
        if self.auth_enabled and not (self.auth_users or self.auth_tokens):
            msg = "--auth-enabled needs --auth-users or --auth-tokens, or no client could log in"
            raise ValueError(msg)
        return self


class ExecutorConfig(SecurityConfig, ObjectStoreConfig):
    """Settings of an executor process."""

    scheduler: str = Field("grpc://127.0.0.1:50050", description="Scheduler URI to register with.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(0, description="Flight port to listen on (0 picks a free one).")
    advertise_host: str = Field(
        "", description="Host name other executors and clients use to reach this one."
    )
    executor_id: str = Field("", description="Stable executor id (default: random).")
    http_port: int = Field(
        -1, description="HTTP port for /healthz, /readyz and /metrics (0 picks a free one, -1 disables)."
    )
    shuffle: ShuffleMode = Field(
        ShuffleMode.MEMORY, description="Keep shuffle partitions in 'memory' or on 'disk'."
    )
    work_dir: Path = Field(
        Path(os.environ.get("TMPDIR", "/tmp")) / "ballista-flight",
        description="Directory for disk shuffle files and memory-shuffle spills.",
    )
    slots: int = Field(os.cpu_count() or 1, description="Tasks run at once (default: cores).")
    memory_limit: int = Field(
        2**30,
        description="Bytes of shuffle data kept in memory before spilling to --work-dir "
        "(memory mode), e.g. 512MiB or 2GiB.",
    )
    input_memory_limit: int = Field(
        2**30,
        description="Bytes of fetched shuffle input the running tasks may hold in memory, e.g. 512MiB; "
        "input arriving past it is written to --work-dir and read from there, memory-mapped.",
    )
    task_memory_limit: int = Field(
        0,
        description="Bytes of working memory DataFusion may use in each task, e.g. 512MiB: sorts, "
        "aggregates and sort-merge joins spill to --work-dir past it, and an operator that cannot "
        "spill (a hash join's build side) fails the query with 'Resources exhausted'. "
        "0 (default): unbounded, as in DataFusion.",
    )
    heartbeat_interval_s: float = Field(2.0, description="Seconds between heartbeats.")
    shutdown_grace_s: float = Field(
        30.0, description="On SIGTERM: how long running tasks may finish before the executor exits."
    )
    job_ttl_s: float = Field(
        3600.0, description="Shuffle data of a job never released is deleted after this long."
    )
    fault_injection: str = Field(
        "",
        description="Tests only: make chosen tasks fail or stall, e.g. "
        "'fail:stage=1,partition=0,times=2;stall:stage=2,seconds=5' (see executor/faults.py). Off by default.",
    )

    @field_validator("memory_limit", "input_memory_limit", "task_memory_limit", mode="before")
    @classmethod
    def _size(cls, value: str | int) -> int:
        return parse_size(value)

    @field_validator("fault_injection")
    @classmethod
    def _faults(cls, value: str) -> str:
        from ballista_flight.executor.faults import parse

        parse(value)  # refuse a bad spec at startup, not at the first task
        return value

    @field_validator("slots")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            msg = "slots must be at least 1"
            raise ValueError(msg)
        return value

    def resolved_id(self) -> str:
        """The executor id, generated when not configured."""
        return self.executor_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()
