"""``python -m ballista_flight`` and the ``ballista-flight`` command."""

from __future__ import annotations

from ballista_flight.allocator import configure


def main() -> int:
    """Set the allocator up, then run the command line (which loads pyarrow and DataFusion)."""
    configure()
    from ballista_flight.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
