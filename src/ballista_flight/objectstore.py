"""S3-compatible object stores for ``s3://`` tables and write targets.

DataFusion resolves ``s3://bucket/...`` through an object store registered per
bucket on each SessionContext. The scheduler registers the buckets a statement
names before planning it; a task names the buckets its plan touches, and the
executor registers them on the task's session. Credentials never travel: each
process reads its own settings (flags, ``BALLISTA_FLIGHT_S3_*`` or the standard
``AWS_*`` environment variables).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from datafusion.object_store import AmazonS3
from pyarrow import fs as pafs

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from datafusion import SessionContext

    from ballista_flight.config import ObjectStoreConfig

_BUCKET = re.compile(rb"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])")


def buckets_in(data: bytes | str) -> set[str]:
    """Bucket names of the ``s3://`` URLs in SQL text or plan bytes."""
    raw = data.encode() if isinstance(data, str) else data
    return {m.decode() for m in _BUCKET.findall(raw)}


@dataclass(frozen=True)
class S3Settings:
    """Where and as whom to reach S3."""

    endpoint: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    allow_http: bool = False

    @classmethod
    def from_config(cls, config: ObjectStoreConfig, env: Mapping[str, str] = os.environ) -> S3Settings:
        """Settings from the process's configuration, completed from the AWS environment."""
        endpoint = config.s3_endpoint or env.get("AWS_ENDPOINT_URL_S3", "") or env.get("AWS_ENDPOINT_URL", "")
        region = (
            config.s3_region or env.get("AWS_REGION", "") or env.get("AWS_DEFAULT_REGION", "") or "us-east-1"
        )
        return cls(
            endpoint=endpoint,
            region=region,
            access_key_id=config.s3_access_key_id or env.get("AWS_ACCESS_KEY_ID", ""),
            secret_access_key=config.s3_secret_access_key or env.get("AWS_SECRET_ACCESS_KEY", ""),
            session_token=env.get("AWS_SESSION_TOKEN", ""),
            allow_http=config.s3_allow_http or env.get("AWS_ALLOW_HTTP", "").lower() in {"1", "true"},
        )

    def store(self, bucket: str) -> AmazonS3:
        """DataFusion's object store for ``bucket``."""
        return AmazonS3(
            bucket_name=bucket,
            region=self.region or None,
            access_key_id=self.access_key_id or None,
            secret_access_key=self.secret_access_key or None,
            session_token=self.session_token or None,
            endpoint=self.endpoint or None,
            allow_http=self.allow_http,
        )

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 filesystem, for the scheduler's listing, moving and deleting."""
        scheme = "http" if self.endpoint.startswith("http://") else "https"
        endpoint = self.endpoint.split("://", 1)[-1] if self.endpoint else None
        return pafs.S3FileSystem(
            access_key=self.access_key_id or None,
            secret_key=self.secret_access_key or None,
            session_token=self.session_token or None,
            region=self.region or None,
            endpoint_override=endpoint,
            scheme=scheme,
        )


class ObjectStores:
    """Registers buckets on sessions, building each bucket's store once."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._stores: dict[str, AmazonS3] = {}
        self._lock = threading.Lock()

    def register(self, ctx: SessionContext, buckets: Iterable[str]) -> None:
        """Make ``s3://<bucket>`` readable and writable in ``ctx`` for every bucket."""
        for bucket in sorted(set(buckets)):
            with self._lock:
                store = self._stores.get(bucket)
                if store is None:
                    store = self._stores[bucket] = self.settings.store(bucket)
            ctx.register_object_store("s3://", store, bucket)


_process_stores = ObjectStores(S3Settings())


def configure(settings: S3Settings) -> None:
    """Set this process's S3 settings (an executor does at start)."""
    global _process_stores  # noqa: PLW0603 -- one set of settings per process, like its config
    _process_stores = ObjectStores(settings)


def process_stores() -> ObjectStores:
    """This process's object stores."""
    return _process_stores
