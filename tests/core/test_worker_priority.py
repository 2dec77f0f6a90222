"""A file's worker processes take only the CPU the writer and a window leave: the writer
bounds a large ingest, and a window's GUI thread must never wait behind parsing."""
import os

from faultsim_desktop.core.child import WORKER_NICENESS
from faultsim_desktop.core.service import IngestService


def test_worker_processes_run_at_the_lowest_priority_and_the_writer_keeps_its_own(tmp_path):
    before = os.nice(0)
    with IngestService(tmp_path / "p.db", workers=2) as svc:
        pool = svc._get_pool()
        niceness = {pool.submit(os.nice, 0).result(timeout=120) for _ in range(8)}
    assert WORKER_NICENESS == 19
    assert niceness == {19}  # the kernel's lowest, whatever the parent's niceness was
    assert os.nice(0) == before  # the writer's process (and a window) keep theirs
