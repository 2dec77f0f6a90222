import os
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from benchmarks.pgserver import ThrowawayServer, find_bin  # noqa: E402
from tests.support.processes import Processes  # noqa: E402

# Storage tests run on both backends: pass ``db`` (or ``new_db``) instead of ``db_path``.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_collection_modifyitems(config, items):
    """Without PostgreSQL's programs, its tests fail in CI (the CI variable is set) and are
    deselected elsewhere, saying so: never skipped silently."""
    if os.environ.get("CI") or find_bin() is not None:
        return
    pg = [item for item in items if item.get_closest_marker("postgresql")]
    if pg:
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]
        config.hook.pytest_deselected(items=pg)
        config._faultsim_pg_note = (
            f"{len(pg)} PostgreSQL test(s) deselected: initdb/pg_ctl not found (install "
            "PostgreSQL, e.g. apt-get install postgresql; in CI they fail instead)")


def pytest_terminal_summary(terminalreporter, config):
    note = getattr(config, "_faultsim_pg_note", None)
    if note:
        terminalreporter.write_line(note, yellow=True, bold=True)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One throwaway PostgreSQL server for the session (benchmarks/pgserver.py), stopped at
    the end whatever happened. The PostgreSQL outboxes go to a private data folder."""
    data_home = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    server = ThrowawayServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
        if data_home is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = data_home


@pytest.fixture
def pg_db(pg_server):
    """A fresh PostgreSQL database (for PostgreSQL-only tests); dropped after the test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def new_db(backend, tmp_path, request):
    """Makes fresh, empty databases on the test's backend: an SQLite path in tmp_path, or a
    PostgreSQL database of its own (dropped after the test)."""
    made: list[str] = []
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def make(name: str = "test"):
        if server is None:
            path = tmp_path / f"{name}.db"
            n = 1
            while path.exists() or str(path) in made:
                n += 1
                path = tmp_path / f"{name}-{n}.db"
            made.append(str(path))
            return path
        url = server.create_database()
        made.append(url)
        return url
    yield make
    if server is not None:
        for url in made:
            server.drop_database(url)


@pytest.fixture
def db(new_db):
    """A fresh database, once on each backend (SQLite file path, PostgreSQL URL)."""
    return new_db()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "test.db"


@pytest.fixture
def open_service():
    """Opens the engine as the tests use it (fast retries, no worker processes) on a path or
    URL; every service it opened is closed after the test."""
    from faultsim_desktop.core.retry import RetryPolicy
    from faultsim_desktop.core.service import IngestService

    opened = []

    def open_(db, **kwargs):
        kwargs = {"retry": RetryPolicy(attempts=3, base_delay_s=0.001, cap_s=0.01),
                  "workers": 0, "seed": 7, **kwargs}
        svc = IngestService(db, **kwargs)
        opened.append(svc)
        return svc
    yield open_
    for svc in opened:
        svc.close()


@pytest.fixture
def sqlite_service(db_path, open_service):
    """The engine on an SQLite file, for what concerns HTTP and its client alone (tokens,
    limits, sockets, wire faults), not the backend."""
    return open_service(db_path)


@pytest.fixture
def service(db, open_service):
    """The engine on the test's backend: SQLite, then PostgreSQL. A test that holds only on
    SQLite (it reads the file, or measures the process) says so with
    ``@pytest.mark.parametrize("backend", ["sqlite"])``."""
    return open_service(db)


@pytest.fixture
def processes():
    """``processes.start(args, ...)`` is ``subprocess.Popen``; whatever still runs when the
    test ends, passed or failed, is killed."""
    with Processes() as started:
        yield started


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Like napari's fixtures: a test that leaves a thread running fails."""
    before = set(threading.enumerate())
    yield
    # A _DummyThread stands for a thread Python did not start (a QThread that ran Python code):
    # Python cannot see it end or join it; the window tests check their QThreads themselves.
    leftover = [t for t in threading.enumerate()
                if t not in before and t.is_alive()
                and not isinstance(t, threading._DummyThread)
                and not t.name.startswith(("QueueFeederThread", "ExecutorManager"))]
    for t in leftover:
        t.join(timeout=5)
    leftover = [t for t in leftover if t.is_alive()]
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"


def pytest_sessionfinish(session, exitstatus):
    # a run that executed no test must fail, even when everything was deselected or skipped
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and exitstatus == 0 and not reporter.stats.get("passed"):
        session.exitstatus = 1


@contextmanager
def _read_only(path: Path):
    """Write-protect a file or folder for real. Root ignores permission bits, so as root the
    file is also made immutable (chattr +i), which stops every writer, root included."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


@pytest.fixture
def read_only():
    """``with read_only(path):`` the file or folder cannot be written, by anyone."""
    return _read_only
