"""ballista-flight: distributed DataFusion SQL over Arrow Flight."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ballista_flight._version import DATAFUSION_VERSION, __version__

if TYPE_CHECKING:
    from ballista_flight.client.context import Context, Result, connect
    from ballista_flight.client.progress import Progress

__all__ = ["DATAFUSION_VERSION", "Context", "Progress", "Result", "__version__", "connect"]

# The client API is imported on first use, so that importing the package (as
# ``python -m ballista_flight`` does) loads neither pyarrow nor DataFusion: a server
# process sets their allocator up first (``allocator.py``).
_LAZY = {
    "Context": "ballista_flight.client.context",
    "Result": "ballista_flight.client.context",
    "connect": "ballista_flight.client.context",
    "Progress": "ballista_flight.client.progress",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'ballista_flight' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
