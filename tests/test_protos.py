"""The committed generated modules match protos/ (run `make protos` after editing them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_protos_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", *sorted(str(p) for p in (ROOT / "protos").glob("*.proto"))],
        check=True,
    )  # fmt: skip
    committed = ROOT / "src" / "ballista_flight" / "proto"
    names = [p.stem + suffix for p in (ROOT / "protos").glob("*.proto") for suffix in ("_pb2.py", "_pb2.pyi")]
    assert len(names) >= 6
    for name in names:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), (
            f"{name} is stale: run `make protos`"
        )
