"""``python -m ballista_flight``."""

from ballista_flight.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
