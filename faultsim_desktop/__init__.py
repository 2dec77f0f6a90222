"""faultsim-desktop: ingest unreliable JSON events, count each exactly once, survive crashes."""
from . import speedups as _speedups

__version__ = "0.1.0"

_speedups.install()  # before any engine module is imported: compiled, or its source if stale
