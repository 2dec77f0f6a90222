import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "test.db"


@pytest.fixture
def service(db_path):
    from faultsim_desktop.core.retry import RetryPolicy
    from faultsim_desktop.core.service import IngestService

    svc = IngestService(db_path, retry=RetryPolicy(attempts=3, base_delay_s=0.001, cap_s=0.01),
                        workers=0, seed=7)
    yield svc
    svc.close()


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Like napari's fixtures: a test that leaves a thread running fails."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate()
                if t not in before and t.is_alive() and not t.name.startswith(("QueueFeederThread",
                                                                              "ExecutorManager"))]
    for t in leftover:
        t.join(timeout=5)
    leftover = [t for t in leftover if t.is_alive()]
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"


def pytest_sessionfinish(session, exitstatus):
    # a run that executed no test must fail, even when everything was deselected or skipped
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and exitstatus == 0 and not reporter.stats.get("passed"):
        session.exitstatus = 1
