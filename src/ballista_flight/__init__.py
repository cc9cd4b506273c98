"""ballista-flight: distributed DataFusion SQL over Arrow Flight."""

from __future__ import annotations

from ballista_flight._version import DATAFUSION_VERSION, __version__
from ballista_flight.client.context import Context, Result, connect
from ballista_flight.client.progress import Progress

__all__ = ["DATAFUSION_VERSION", "Context", "Progress", "Result", "__version__", "connect"]
