"""The committed generated modules match protos/ (run `make protos` after editing them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_protos_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", str(ROOT / "protos" / "ballista_flight.proto")],
        check=True,
    )  # fmt: skip
    committed = ROOT / "src" / "ballista_flight" / "proto"
    for name in ("ballista_flight_pb2.py", "ballista_flight_pb2.pyi"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), (
            f"{name} is stale: run `make protos`"
        )
