"""ballista-flight: distributed DataFusion SQL over Arrow Flight."""

from __future__ import annotations

from ballista_flight._version import DATAFUSION_VERSION, __version__
from ballista_flight.client.context import Context, Result, connect

__all__ = ["DATAFUSION_VERSION", "Context", "Result", "__version__", "connect"]
