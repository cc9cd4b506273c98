"""Server processes set mimalloc up before pyarrow and DataFusion load it."""

from __future__ import annotations

import os
import subprocess
import sys

# Runs the real entry point (as ``ballista-flight --version``), then loads DataFusion as a
# server does; MIMALLOC_VERBOSE makes each mimalloc instance print the options it read.
ENTRY_THEN_DATAFUSION = """
import sys
from ballista_flight.__main__ import main
sys.argv = ["ballista-flight", "--version"]
try:
    main()
except SystemExit:
    pass
import datafusion
datafusion.SessionContext().sql("SELECT 1").collect()
"""


def _purge_delays(extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", ENTRY_THEN_DATAFUSION],
        env={**env, **extra, "MIMALLOC_VERBOSE": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line.split(":")[-1].strip() for line in out.stderr.splitlines() if "'purge_delay'" in line]


def test_the_entry_point_keeps_freed_memory_in_both_allocators() -> None:
    delays = _purge_delays({})
    # pyarrow's and DataFusion's own copies of mimalloc
    assert delays == ["10000", "10000"], delays


def test_a_value_in_the_environment_wins() -> None:
    assert _purge_delays({"MIMALLOC_PURGE_DELAY": "250"}) == ["250", "250"]


def test_the_opt_out_leaves_each_library_its_own_default() -> None:
    assert _purge_delays({}) != _purge_delays({"BALLISTA_FLIGHT_ALLOCATOR_DEFAULTS": "1"})
    assert "10000" not in _purge_delays({"BALLISTA_FLIGHT_ALLOCATOR_DEFAULTS": "1"})


def test_importing_the_package_loads_neither_library() -> None:
    probe = (
        "import sys, ballista_flight.__main__; print('pyarrow' in sys.modules, 'datafusion' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False"]
