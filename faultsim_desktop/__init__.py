"""faultsim-desktop: ingest unreliable JSON events, count each exactly once, survive crashes."""
from . import speedups as _speedups
from . import sqlite_library as _sqlite_library

__version__ = "0.1.0"

_sqlite_library.install()  # before sqlite3 is imported: the library's one setting (see there)
_speedups.install()  # before any engine module is imported: compiled, or its source if stale
