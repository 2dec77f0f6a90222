"""Long runs of the state machine of tests/core/test_stateful.py (two IngestServices on one
database, faults, outbox retries, restarts, quarantine; every outcome and the aggregates checked
against an in-memory model after every step). The test runs it briefly; this runs it for as
long as you like, on SQLite or on a throwaway PostgreSQL server.

    python benchmarks/stateful_soak.py --examples 2000 --steps 80
    python benchmarks/stateful_soak.py --backend postgresql --examples 500

Prints one JSON object with the figures; on a failure hypothesis prints the shortest sequence
of steps it found, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "core"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=60, help="most rules per example")
    args = parser.parse_args()

    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    with tempfile.TemporaryDirectory(prefix="stateful-soak-") as tmp:
        os.environ["XDG_DATA_HOME"] = tmp  # PostgreSQL outboxes: a private folder
        from test_stateful import IngestMachine

        server = None
        if args.backend == "postgresql":
            from pgserver import ThrowawayServer
            server = ThrowawayServer().start()
        made: list[str] = []

        def new_db(name: str):
            if server is not None:
                made.append(server.create_database())
                return made[-1]
            made.append(str(Path(tmp) / f"{name}-{len(made)}.db"))
            return Path(made[-1])

        started = time.perf_counter()
        error = None
        try:
            run_state_machine_as_test(lambda: IngestMachine(new_db), settings=settings(
                max_examples=args.examples, stateful_step_count=args.steps, deadline=None,
                database=None, suppress_health_check=list(HealthCheck)))
        except Exception as exc:  # reported below, with hypothesis' own account above it
            error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            if server is not None:
                server.cleanup()
        print(json.dumps({"backend": args.backend, "examples": args.examples,
                          "steps_per_example": args.steps, "databases": len(made),
                          "seconds": round(time.perf_counter() - started, 1),
                          "failure": error}))
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
