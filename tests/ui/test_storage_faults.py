"""Real storage faults in the window: a banner names the file and says what to do, the pending
count shows what waits, and a database that cannot be opened is left as it was while the user
is offered a new one."""
import os
from decimal import Decimal

import pytest

from faultsim_desktop.ui.db_banner import OpenFailedDialog

from .helpers import assert_nothing_running, send, totals

BEFORE = '{"client": "a", "amount": "1.10", "currency": "EUR"}\n{"client": "b", "amount": 2}'
DURING = '{"client": "a", "amount": "0.05", "currency": "EUR"}\n{"client": "c", "amount": 7}'
TRUTH_AFTER = {("a", "EUR"): (2, Decimal("1.15")), ("b", None): (1, Decimal(2)),
               ("c", None): (1, Decimal(7))}


def banner_says(w, *words):
    text = w.storage_banner.label.text()
    return w.storage_banner.isVisible() and all(word in text for word in words)


def fails_and_waits(qtbot, w, db_path, *words):
    s = send(qtbot, w, DURING)
    assert (s.accepted, s.failed) == (0, 2)
    qtbot.waitUntil(lambda: banner_says(w, str(db_path), *words, "2 events wait in the pending "
                                        "outbox"), timeout=10_000)
    qtbot.waitUntil(lambda: "pending 2" in w.counters_label.text())
    qtbot.waitUntil(lambda: w.pending_panel.model.rowCount() == 2)
    assert w.storage_banner.retry_button.text() == "Retry pending (2)"


def retry_from_banner(qtbot, w):
    with qtbot.waitSignal(w.bridge.retryFinished, timeout=20_000) as blocker:
        w.storage_banner.retry_button.click()
    assert (blocker.args[0].accepted, blocker.args[0].pending) == (2, 0)
    qtbot.waitUntil(lambda: totals(w) == TRUTH_AFTER)
    qtbot.waitUntil(lambda: w.storage_banner.isHidden() and "pending 0" in w.counters_label.text())


def test_read_only_database_shows_a_banner_and_the_waiting_events(qtbot, window, db_path,
                                                                 read_only):
    assert send(qtbot, window, BEFORE).accepted == 2
    assert window.storage_banner.isHidden()
    with read_only(db_path):
        fails_and_waits(qtbot, window, db_path, "is read-only", "Make it writable")
    # writable again: the once-a-second check takes the banner down; the events still wait
    qtbot.waitUntil(window.storage_banner.isHidden, timeout=5_000)
    assert "pending 2" in window.counters_label.text()
    retry_from_banner(qtbot, window)


def test_deleted_database_shows_where_its_data_went(qtbot, window, db_path):
    assert send(qtbot, window, BEFORE).accepted == 2
    os.unlink(db_path)
    fails_and_waits(qtbot, window, db_path, "deleted or moved away",
                    "Everything stored until then was saved to", "Put the database back")
    assert not db_path.exists()  # the window's reads did not create an empty one
    [copy] = db_path.parent.glob("test.rescued-*.db")
    assert str(copy) in window.storage_banner.label.text()
    os.replace(copy, db_path)  # the user puts it back
    qtbot.waitUntil(window.storage_banner.isHidden, timeout=5_000)
    retry_from_banner(qtbot, window)


def test_full_database_shows_a_banner(qtbot, window, db_path):
    assert send(qtbot, window, BEFORE).accepted == 2
    svc = window.service
    pages, page_size = svc.in_writer(lambda s: (
        s.conn.execute("PRAGMA page_count").fetchone()[0],
        s.conn.execute("PRAGMA page_size").fetchone()[0]))
    svc.in_writer(lambda s: s.conn.execute(f"PRAGMA max_page_count = {pages}"))
    # each event larger than a page: it cannot fit in the free space of the pages there are
    pad = "x" * (2 * page_size)
    padded = "\n".join(line[:-1] + f', "pad": "{pad}"}}' for line in DURING.splitlines())
    s = send(qtbot, window, padded)
    assert (s.accepted, s.failed) == (0, 2)
    qtbot.waitUntil(lambda: banner_says(window, str(db_path), "is full", "Free some space",
                                        "2 events wait"), timeout=10_000)
    svc.in_writer(lambda s: s.conn.execute("PRAGMA max_page_count = 1073741823"))
    retry_from_banner(qtbot, window)


def _corrupt(path):
    junk = os.urandom(16384)
    path.write_bytes(junk)
    return junk


def test_opening_a_damaged_database_offers_a_new_one_and_leaves_it(qtbot, tmp_path, settings,
                                                                 monkeypatch):
    from faultsim_desktop.ui.app import open_first_window

    damaged = tmp_path / "faultsim.db"
    junk = _corrupt(damaged)
    asked = []

    def answer(dialog):  # the user reads the dialog and clicks "Create a new database"
        asked.append((dialog.text(), dialog.informativeText(), dialog.new_path))
        dialog.new_button.click()
        return 0
    monkeypatch.setattr(OpenFailedDialog, "exec", answer)
    w = open_first_window(damaged, settings, workers=0, restore=False)
    qtbot.addWidget(w)
    [(text, info, new_path)] = asked
    assert str(damaged) in text and "damaged" in text
    assert f"{damaged} was not changed" in info and str(new_path) in info
    assert new_path == tmp_path / "faultsim-new.db"
    assert w.service.db_path == new_path and w.service.stats() == []
    assert damaged.read_bytes() == junk
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("faultsim.db")) \
        == ["faultsim.db"]  # no -wal, -shm or outbox beside the damaged file
    w.close()
    assert_nothing_running(w)


@pytest.mark.parametrize("choice", ["quit", "another file"])
def test_opening_a_damaged_database_quit_or_choose_another(qtbot, tmp_path, settings,
                                                           monkeypatch, choice):
    from PySide6.QtWidgets import QFileDialog

    from faultsim_desktop.core.service import IngestService
    from faultsim_desktop.ui.app import open_first_window

    damaged = tmp_path / "faultsim.db"
    junk = _corrupt(damaged)
    good = tmp_path / "good.db"
    IngestService(good, workers=0).close()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(good), ""))
    button = "quit_button" if choice == "quit" else "open_button"
    monkeypatch.setattr(OpenFailedDialog, "exec",
                        lambda d: getattr(d, button).click() or 0)
    w = open_first_window(damaged, settings, workers=0, restore=False)
    if choice == "quit":
        assert w is None
    else:
        qtbot.addWidget(w)
        assert w.service.db_path == good
        w.close()
        assert_nothing_running(w)
    assert damaged.read_bytes() == junk


def test_switching_to_a_damaged_database_offers_a_new_one(qtbot, window, tmp_path):
    damaged = tmp_path / "other" / "broken.db"
    damaged.parent.mkdir()
    junk = _corrupt(damaged)
    assert not window.switch_database(damaged)
    dialog = window.open_failed_dialog
    qtbot.waitUntil(dialog.isVisible)  # window-modal, nothing blocks: the test answers it
    assert str(damaged) in dialog.text()
    assert dialog.quit_button.text() == "Keep the current database"
    dialog.new_button.click()
    qtbot.waitUntil(lambda: window.service.db_path == damaged.parent / "broken-new.db")
    assert damaged.read_bytes() == junk
    assert send(qtbot, window, BEFORE).accepted == 2
