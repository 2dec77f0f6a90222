"""Several processes opening one brand-new database file at the same moment all get it.

A process that looks at the file while another is creating it must see either an empty file
or a complete faultsim schema, never "a database of another program" halfway between.
"""
import multiprocessing
import time

from faultsim_desktop.core.storage.sqlite_schema import connect


def _open_at(path: str, start_at: float) -> str | None:
    while time.time() < start_at:  # all processes reach connect() together
        pass
    try:
        connect(path).close()
    except Exception as exc:  # reported to the test, which names it
        return f"{type(exc).__name__}: {exc}"
    return None


def test_processes_setting_up_one_new_database_all_succeed(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    problems = []
    with ctx.Pool(4) as pool:
        for round_ in range(40):
            path = str(tmp_path / f"new-{round_}.db")
            start_at = time.time() + 0.05
            results = pool.starmap(_open_at, [(path, start_at)] * 4)
            problems += [f"round {round_}: {r}" for r in results if r]
            # and the file is a whole faultsim database afterwards
            connect(path, create=False).close()
    assert problems == []
