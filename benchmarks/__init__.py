"""Runnable benchmark scripts (see README.md); shared bits live here."""

from __future__ import annotations

import argparse
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def script_parser(doc: str | None, runs: int, runs_help: str | None = None) -> argparse.ArgumentParser:
    """The options every SF-scaled benchmark script takes: ``--scale``, ``--runs`` and ``--out``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=runs, help=runs_help)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def publish(text: str, out: Path, name: str) -> None:
    """Print a result table and keep it as ``out/name`` (benchmarks/results/ by default)."""
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text)
