"""Confining file access to configured data roots (``--data-roots``).

When roots are set, ``CREATE EXTERNAL TABLE`` and ``COPY ... TO`` may name only
locations inside them. The locations are not parsed out of the SQL text by us
(quoting rules are DataFusion's): DataFusion plans ``EXPLAIN <statement>``,
which parses and plans the statement without running it, and the locations are
read from the logical plan. Each is resolved (``..``, symlinks, ``file://``)
before it is compared, so ``../`` and symlink escapes are refused too. A root may
also be an object-store prefix (``s3://bucket/data``); URLs of other stores or
outside the prefix are refused.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import TYPE_CHECKING, Any

from ballista_flight.errors import PlanningError, datafusion_message
from ballista_flight.scheduler.statements import strip_leading_comments

if TYPE_CHECKING:
    from datafusion import SessionContext

_GLOB = "*?[{"
_CHECKED = {"create", "copy"}
_WORD = re.compile(r"[A-Za-z_]+")


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def _normal_url(url: str) -> str:
    """``scheme://bucket/key`` with ``.`` and ``..`` segments folded (no filesystem involved)."""
    scheme, _, rest = url.partition("://")
    normal = posixpath.normpath("/" + rest).lstrip("/")
    return f"{scheme.lower()}://{normal}"


def parse_roots(spec: str) -> list[str]:
    """Roots of a comma-separated ``--data-roots`` value: resolved directories, or URL prefixes.

    A URL root (``s3://bucket/prefix``) admits locations under that prefix.
    """
    roots = [p.strip() for p in spec.split(",") if p.strip()]
    return [_normal_url(r) if _is_url(r) else os.path.realpath(r.removeprefix("file://")) for r in roots]


def _fs_path(location: str) -> str | None:
    """The local path a location names (None: another scheme, such as s3://)."""
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif "://" in location:
        return None
    cut = min((i for i in (location.find(c) for c in _GLOB) if i >= 0), default=-1)
    if cut >= 0:  # a glob: check the directory it starts from
        location = os.path.dirname(location[:cut]) or "."
    return os.path.realpath(location or ".")


def inside(location: str, roots: list[str]) -> bool:
    """Whether ``location`` resolves to a path within one of ``roots``."""
    if _is_url(location):
        url = _normal_url(location)
        return any(url == r or url.startswith(r.rstrip("/") + "/") for r in roots if _is_url(r))
    path = _fs_path(location)
    assert path is not None
    return any(
        path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots if not _is_url(root)
    )


def _locations(plan: Any) -> list[str]:
    """Every location a logical plan would read from or write to (DDL and COPY)."""
    found: list[str] = []
    variant = plan.to_variant()
    name = type(variant).__name__
    if name == "CreateExternalTable":
        found.extend(variant.locations())
    elif name == "CopyTo":
        found.append(variant.output_url())
    for child in plan.inputs():
        found.extend(_locations(child))
    return found


def check_statement(ctx: SessionContext, sql: str, roots: list[str]) -> None:
    """Refuse ``sql`` if it names a file location outside ``roots`` (no roots: allow all)."""
    if not roots:
        return
    body = strip_leading_comments(sql)
    word = _WORD.match(body)
    if word is None or word.group(0).lower() not in _CHECKED:
        return
    try:
        plan = ctx.sql(f"EXPLAIN {body}").logical_plan()
    except Exception as exc:
        raise PlanningError(datafusion_message(exc)) from exc
    for location in _locations(plan):
        if not inside(location, roots):
            msg = (
                f"location {location!r} is outside the data roots this cluster allows "
                "(the scheduler's --data-roots)"
            )
            raise PlanningError(msg)
