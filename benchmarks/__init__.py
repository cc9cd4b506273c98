"""Runnable benchmark scripts (see README.md); shared bits live here."""

from __future__ import annotations

from pathlib import Path


def publish(text: str, out: Path, name: str) -> None:
    """Print a result table and keep it as ``out/name`` (benchmarks/results/ by default)."""
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text)
