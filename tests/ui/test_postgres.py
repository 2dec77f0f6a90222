"""The window on a PostgreSQL database: the password never shows (title, label, banner, open
dialog, settings), a stopped server puts a banner up with the events that wait, and they are
counted once when it is back."""
from decimal import Decimal

import pytest

from faultsim_desktop.core.dburl import mask_url
from faultsim_desktop.ui.db_banner import OpenFailedDialog

from .helpers import assert_nothing_running, open_window, send, totals
from .test_storage_faults import BEFORE, fails_and_waits, retry_from_banner

pytestmark = pytest.mark.postgresql

TRUTH_BEFORE = {("a", "EUR"): (1, Decimal("1.10")), ("b", None): (1, Decimal(2))}
SECRET = "Pw-never-shown-7"


@pytest.fixture
def pg_window(qtbot, pg_server, pg_db, settings):
    """The window on a fresh PostgreSQL database, opened with a URL that holds a password."""
    url = pg_server.with_password(pg_db)
    w = open_window(qtbot, url, settings)
    yield w, url
    w.close()
    assert_nothing_running(w)


def settings_text(settings) -> str:
    return " ".join(str(settings.value(k)) for k in settings.allKeys())


def test_a_stopped_server_shows_a_banner_and_the_events_count_once_when_back(
        qtbot, pg_window, pg_server, settings):
    from benchmarks.pgserver import PASSWORD

    w, url = pg_window
    label = mask_url(url)
    assert PASSWORD in url and PASSWORD not in label
    assert w.windowTitle().endswith("(PostgreSQL)") and PASSWORD not in w.windowTitle()
    assert w.db_label.toolTip() == f"Database: {label}"
    assert send(qtbot, w, BEFORE).accepted == 2
    pg_server.stop("immediate")
    try:
        fails_and_waits(qtbot, w, label, "Cannot reach the PostgreSQL server")
        assert PASSWORD not in w.storage_banner.label.text()
    finally:
        pg_server.start()
    qtbot.waitUntil(w.storage_banner.isHidden, timeout=10_000)  # the periodic check sees it
    retry_from_banner(qtbot, w)
    w.save_settings()
    assert settings.value("database/last") == url.replace(f":{PASSWORD}@", "@")
    assert PASSWORD not in settings_text(settings)


def test_switching_to_a_postgresql_database_and_back(qtbot, window, pg_server, pg_db, db_path,
                                                     settings):
    assert send(qtbot, window, BEFORE).accepted == 2
    assert window.switch_database(pg_db)
    assert window.service.db_path == pg_db and window.service.stats() == []
    assert send(qtbot, window, BEFORE).accepted == 2
    qtbot.waitUntil(lambda: totals(window) == TRUTH_BEFORE)
    assert settings.value("database/last") == pg_db
    # a database that does not exist: the window keeps the current one and says why
    assert not window.switch_database(pg_server.url("nosuchdb", "alice", SECRET))
    dialog = window.open_failed_dialog
    assert isinstance(dialog, OpenFailedDialog)
    assert "does not exist" in dialog.text() and "alice:***@" in dialog.text()
    assert SECRET not in dialog.text() + dialog.informativeText()
    dialog.reject()
    assert window.service.db_path == pg_db
    assert SECRET not in settings_text(settings)
    assert window.switch_database(db_path)  # back to the file, as it was
    assert window.service.db_path == db_path
    qtbot.waitUntil(lambda: totals(window) == TRUTH_BEFORE)


def test_another_writer_on_the_server_shows_in_an_idle_window(qtbot, pg_window, monkeypatch):
    """The window asks the server's snapshot before reading the totals again: a commit by
    another service shows without anything sent from the window, and so does the next."""
    from faultsim_desktop.core.service import IngestService
    from faultsim_desktop.ui import bridge as bridge_module

    w, url = pg_window
    monkeypatch.setattr(bridge_module, "EXTERNAL_REFRESH_S", 0.1)
    with IngestService(url, workers=0) as other:
        other.submit_text('{"client": "far", "amount": "4.20"}', source="other").wait()
        qtbot.waitUntil(lambda: totals(w) == {("far", None): (1, Decimal("4.20"))},
                        timeout=10_000)
        other.submit_text('{"client": "far", "amount": "0.80"}', source="other").wait()
        qtbot.waitUntil(lambda: totals(w) == {("far", None): (2, Decimal("5.00"))},
                        timeout=10_000)
