"""Scripts that measure the engine and print JSON (``python benchmarks/ingest.py ...``).

The corpus generator and the throwaway PostgreSQL server live here once: the scripts import
them as siblings, the tests as ``benchmarks.corpus`` and ``benchmarks.pgserver``.
"""
