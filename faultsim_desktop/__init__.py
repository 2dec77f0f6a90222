"""faultsim-desktop: ingest unreliable JSON events, count each exactly once, survive crashes."""
__version__ = "0.1.0"
