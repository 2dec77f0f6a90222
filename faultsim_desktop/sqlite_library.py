"""One setting of the SQLite library itself, made before Python's ``sqlite3`` module starts it.

SQLite keeps statistics of its own memory use unless told not to (``SQLITE_CONFIG_MEMSTATUS``).
Debian's build keeps them on and leaves out the lookaside allocator, so every allocation and
free of SQLite's goes through ``malloc`` and through one process-wide mutex that guards the
statistics: with them, the writer thread spent about a twelfth of its CPU taking and releasing
mutexes (docs/benchmarks.md, "SQLite's memory statistics"). Nothing in this application, nor in
Python's ``sqlite3`` module, reads them (``sqlite3_memory_used``, ``sqlite3_soft_heap_limit64``).

The setting can only be made before the library is initialized, and ``import sqlite3``
initializes it, so ``faultsim_desktop/__init__.py`` calls ``install`` first thing. In a process
that imported ``sqlite3`` before this package (a host application, a test runner), the library
is left as it is; everything works the same, only the writer is slower. The library configured
is the very one the ``_sqlite3`` extension module is linked with (its own handle: dlsym searches
an object's dependencies too), never another copy on the system.
"""
from __future__ import annotations

import ctypes
import importlib.util
import sys

__all__ = ["install", "status"]

SQLITE_OK = 0
SQLITE_CONFIG_MEMSTATUS = 9

_status = "not tried"


def install() -> str:
    """Turn SQLite's memory statistics off if the library is not started yet; returns (and
    ``status`` then tells) what happened. Never raises."""
    global _status
    if _status != "not tried":
        return _status
    _status = _configure()
    return _status


def _configure() -> str:
    if "_sqlite3" in sys.modules:
        return "left as it is: sqlite3 was imported first"
    try:
        spec = importlib.util.find_spec("_sqlite3")
        origin = spec.origin if spec is not None else None
        if not origin or not spec.has_location:
            return "left as it is: no sqlite3 extension module file"
        config = ctypes.CDLL(origin).sqlite3_config
    except (OSError, AttributeError, ImportError, ValueError) as exc:
        return f"left as it is: {type(exc).__name__}"
    config.restype = ctypes.c_int
    rc = config(ctypes.c_int(SQLITE_CONFIG_MEMSTATUS), ctypes.c_int(0))
    return "memory statistics off" if rc == SQLITE_OK else f"left as it is: sqlite3_config {rc}"


def status() -> str:
    """What ``install`` did in this process."""
    return _status
