"""``faultsim``: the engine from a terminal. Thin: parse arguments, call IngestService, print.

``main.py`` wires the sub-commands; each has its own module (its options and what it does).
"""
from .main import main, run

__all__ = ["main", "run"]
