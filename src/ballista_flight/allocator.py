"""Memory allocator settings for server processes, applied before pyarrow and DataFusion load.

Both libraries allocate with mimalloc (each its own copy), which by default returns
memory to the operating system 10 ms (DataFusion's copy) or 1 s (pyarrow's) after it
is freed. An executor frees a task's batches and
allocates the next task's moments later, so every task paid again for page faults
and for the kernel zeroing fresh (huge) pages: on TPC-H SF1 that was about a tenth
of the cluster's CPU (``perf``: ``clear_page_erms`` under ``do_huge_pmd_anonymous_page``)
and 0.1-0.15x of its ratio to DataFusion (``benchmarks/allocator.py`` shows the same
setting on DataFusion alone). Freed memory is now kept for 10 s: reused while the
executor is busy, still returned when it idles.

mimalloc reads its options from the environment once, when the library loads, so
this must run before anything imports pyarrow or datafusion. A value already in the
environment wins; ``BALLISTA_FLIGHT_ALLOCATOR_DEFAULTS=1`` leaves every option as the
libraries ship it.
"""

from __future__ import annotations

import os

OPT_OUT = "BALLISTA_FLIGHT_ALLOCATOR_DEFAULTS"
SETTINGS = {
    # milliseconds before freed memory goes back to the OS (defaults: DataFusion's copy 10, pyarrow's 1000)
    "MIMALLOC_PURGE_DELAY": "10000",
}


def configure() -> None:
    """Put ``SETTINGS`` in the environment where it does not set them already (unless opted out)."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
