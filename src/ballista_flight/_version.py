"""Version of ballista-flight and of the DataFusion it is built on."""

from __future__ import annotations

import datafusion

__version__ = "0.1.0"
DATAFUSION_VERSION: str = datafusion.__version__
