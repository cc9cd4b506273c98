"""Version of ballista-flight and of the DataFusion it is built on."""

from __future__ import annotations

from importlib.metadata import version

__version__ = "0.1.0"
# From the installed distribution, not ``datafusion.__version__``: reading it must not load
# DataFusion's library before ``allocator.configure`` has run.
DATAFUSION_VERSION: str = version("datafusion")
