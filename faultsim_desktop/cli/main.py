"""The argument wiring of ``faultsim``: one sub-command per module of this package."""
from __future__ import annotations

import argparse
import sys

from ..core.service import tune_gc_for_bulk
from ..core.errors import StorageError
from . import explain, export, imports, ingest, log, pending, quarantine, schema, serve, stats
from . import send
from .common import EXIT_ERROR, EXIT_OK, common_options
from . import scenario

# in the order ``faultsim --help`` lists them
_COMMANDS = {"ingest": ingest, "stats": stats, "quarantine": quarantine, "pending": pending,
             "export": export, "log": log, "imports": imports, "schema": schema,
             "serve": serve, "explain": explain, "send": send}

_COMMANDS["scenario"] = scenario


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="faultsim", description="Ingest unreliable JSON events; count each exactly once.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS.values():
        command.add_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command].run(args)
    except StorageError as exc:
        print(f"faultsim: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("faultsim: interrupted; what was committed stays, nothing is half-counted",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def run() -> int:
    """The ``faultsim`` program. An ingest tunes this process's garbage collector for bulk
    work; ``main`` alone leaves it as it is (tests and other hosts call ``main``)."""
    argv = sys.argv[1:]
    if argv[:1] == ["ingest"]:
        tune_gc_for_bulk()
    return main(argv)
