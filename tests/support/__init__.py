"""What the tests share that is not a fixture: child-process handling (``processes``).

The messy corpus and the throwaway PostgreSQL server are shared with the benchmark scripts, so
they live once in ``benchmarks/`` and the tests import them as ``benchmarks.corpus`` and
``benchmarks.pgserver`` (the repository root is on pytest's ``pythonpath``).
"""
