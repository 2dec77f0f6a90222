"""The Imports panel driven as a user would: every paste and file is a row with its counts,
newest first; Undo (the button, the row's context menu, Edit > Undo import…) asks first, takes
the import back off the GUI thread, and the totals, the panel and the log follow."""
import sqlite3
import threading
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from faultsim_desktop.ui.imports_panel import COLUMNS, ImportsPanel

from .conftest import _OFFSCREEN_NOISE
from .helpers import assert_nothing_running, send, totals

# a popup menu makes the offscreen plugin (not our code) say it cannot raise it or grab keys
MENU_NOISE = pytest.mark.qt_log_ignore(
    r"This plugin does not support (raise\(\)|grabbing the keyboard)", _OFFSCREEN_NOISE)

ONE = "\n".join([
    '{"client": "acme", "amount": "10.50", "currency": "USD", "event_id": "a1"}',
    '{"client": "acme", "amount": "2.25", "currency": "USD", "event_id": "a2"}',
    '{"client": "globex", "amount": "7", "currency": "EUR", "event_id": "g1"}',
    '{"client": "broken", "amount": ',
])
# a copy of a1 (a duplicate of import 1), and two events of its own
TWO = "\n".join([
    '{"client": "acme", "amount": "10.50", "currency": "USD", "event_id": "a1"}',
    '{"client": "initech", "amount": "1,000.00", "currency": "USD", "event_id": "i1"}',
    '{"client": "globex", "amount": "3", "currency": "EUR", "event_id": "g2"}',
])


def show_panel(w) -> ImportsPanel:
    dock = w.docks["imports"]
    dock.show()
    dock.raise_()
    w.said = []  # every status bar message, in order (a storage banner may follow one at once)
    w.message.connect(w.said.append)
    return w.imports_panel


def cell(panel: ImportsPanel, row: int, column: str) -> str:
    return panel.proxy.index(row, COLUMNS.index(column)).data()


def shown(panel: ImportsPanel) -> list[dict]:
    """The table as the user reads it, top row first."""
    return [{c: cell(panel, r, c) for c in COLUMNS} for r in range(panel.proxy.rowCount())]


def wait_rows(qtbot, panel, predicate, timeout=20_000):
    qtbot.waitUntil(lambda: bool(predicate(shown(panel))), timeout=timeout)
    return shown(panel)


def db_totals(w):
    return {(r.client, r.currency): (r.count, r.total) for r in w.service.stats()}


def ingest_two(qtbot, w, tmp_path):
    """A paste, then a file: two imports."""
    s = send(qtbot, w, ONE, anyway=True)
    assert (s.accepted, s.rejected) == (3, 1)
    path = tmp_path / "two.ndjson"
    path.write_text(TWO + "\n", encoding="utf-8")
    with qtbot.waitSignal(w.bridge.filesFinished, timeout=20_000):
        w.ingest_files([str(path)])
    return path


def select(qtbot, panel, import_id):
    qtbot.waitUntil(lambda: panel.select_import(import_id))
    assert panel.selected_import().id == import_id


def confirm(qtbot, panel, accept=True):
    qtbot.waitUntil(lambda: panel.confirm_box is not None and panel.confirm_box.isVisible())
    box = panel.confirm_box
    text = box.text()
    if accept:
        panel.confirm_button.click()
    else:
        box.button(QMessageBox.StandardButton.Cancel).click()
    return text, box.informativeText()


def test_each_import_is_a_row_with_its_counts_newest_first(qtbot, window, tmp_path):
    panel = show_panel(window)
    assert panel.summary.text().startswith("No imports yet")
    path = ingest_two(qtbot, window, tmp_path)
    rows = wait_rows(qtbot, panel, lambda rows: len(rows) == 2
                     and all(r["Status"] == "done" for r in rows)
                     and rows[0]["Accepted"] == "2")
    assert [r["#"] for r in rows] == ["2", "1"]  # newest first
    two, one = rows
    assert (two["Kind"], two["Source"]) == ("file", str(path))
    assert (one["Kind"], one["Source"]) == ("paste", "pasted")
    assert [two[c] for c in ("Received", "Accepted", "Duplicates", "Rejected", "Failed",
                             "Pending")] == ["3", "2", "1", "0", "0", "0"]
    assert [one[c] for c in ("Received", "Accepted", "Duplicates", "Rejected", "Failed",
                             "Pending")] == ["4", "3", "0", "1", "0", "0"]
    assert one["Faults"] == "off"
    # the panel says what the service says
    info = {i.id: i for i in window.service.imports()}
    assert int(two["Accepted"]) == info[2].accepted and int(one["Received"]) == info[1].received
    assert panel.summary.text() == "2 imports"
    # the whole source is in the tooltip even when the column elides it
    tip = panel.proxy.index(0, COLUMNS.index("Source")).data(Qt.ItemDataRole.ToolTipRole)
    assert str(path) in tip


def test_counts_are_never_abbreviated(qtbot, window):
    panel = show_panel(window)
    lines = "\n".join(f'{{"client": "c{i % 7}", "amount": "{i}.01", "currency": "USD"}}'
                      for i in range(12_345))
    s = send(qtbot, window, lines, timeout=60_000)
    assert s.accepted == 12_345
    rows = wait_rows(qtbot, panel, lambda rows: rows and rows[0]["Accepted"] == "12,345")
    assert rows[0]["Received"] == "12,345"
    col = COLUMNS.index("Accepted")
    needed = panel.table.fontMetrics().horizontalAdvance("12,345")
    assert panel.table.columnWidth(col) > needed  # the whole number fits


def test_undo_by_button_takes_the_import_back_and_hands_its_copy_over(qtbot, window, tmp_path):
    w = window
    panel = show_panel(w)
    ingest_two(qtbot, w, tmp_path)
    before = {("acme", "USD"): (2, Decimal("12.75")), ("globex", "EUR"): (2, Decimal("10")),
              ("initech", "USD"): (1, Decimal("1000.00"))}
    qtbot.waitUntil(lambda: totals(w) == before)
    wait_rows(qtbot, panel, lambda rows: len(rows) == 2 and rows[1]["Status"] == "done")
    select(qtbot, panel, 1)
    assert panel.undo_button.isEnabled()
    with qtbot.waitSignal(panel.undoFinished, timeout=30_000) as finished:
        panel.undo_button.click()
        text, details = confirm(qtbot, panel)
        assert panel.undo_status.isVisible()  # busy in the status bar, Undo disabled
        assert not panel.undo_button.isEnabled() and not w.undo_import_action.isEnabled()
    assert text == "Undo import #1 (pasted): 3 accepted events leave the totals."
    assert "received 4 · accepted 3 · duplicates 0 · rejected 1" in details
    row, result = finished.args
    assert (row.id, result.removed, result.handed_over) == (1, 2, 1)
    assert not panel.undo_status.isVisible()
    # a1 now belongs to import 2, which sent it too; a2 and g1 are gone
    after = {("acme", "USD"): (1, Decimal("10.50")), ("globex", "EUR"): (1, Decimal("3")),
             ("initech", "USD"): (1, Decimal("1000.00"))}
    qtbot.waitUntil(lambda: totals(w) == after)
    assert totals(w) == db_totals(w) == after
    # the status bar's tally says what left: accepted minus undone is what the database holds
    qtbot.waitUntil(lambda: "accepted 5 · undone 2 ·" in w.counters_label.text())
    assert w.counters.accepted - w.counters.undone == w.service.counts()["events"] == 3
    rows = wait_rows(qtbot, panel, lambda rows: rows[1]["Status"].startswith("undone at")
                     and rows[0]["Accepted"] == "3")
    assert (rows[0]["Duplicates"], rows[0]["Received"]) == ("0", "3")
    assert rows[1]["Accepted"] == "3"  # the counts it had when it was undone
    # the status bar says it briefly (its counters never cut it); the panel keeps it all
    assert w.said[-1] == "Import #1 undone: 2 events left the totals"
    assert panel.summary.text() == (
        "2 imports · 1 undone — Import #1 (pasted) undone: 2 events left the totals, 1 went "
        "to a later import that sent it too")
    # undone: no second undo, by any way in
    select(qtbot, panel, 1)
    assert not panel.undo_button.isEnabled()
    assert not w.undo_import_action.isEnabled()
    panel.request_undo()
    assert panel.confirm_box is None
    assert "was undone at" in w.said[-1]
    # its rows in the live log stay as history, greyed
    log = w.log_view.model
    undone_rows = [i for i in range(log.rowCount())
                   if log.record(i).import_tag and log.record(i).import_tag.uid == row.uid]
    assert len(undone_rows) == 4
    assert all(log.index(i, 2).data(Qt.ItemDataRole.ToolTipRole) for i in undone_rows)


@MENU_NOISE
def test_undo_by_the_menu_and_the_context_menu(qtbot, window, tmp_path):
    w = window
    panel = show_panel(w)
    ingest_two(qtbot, w, tmp_path)
    wait_rows(qtbot, panel, lambda rows: len(rows) == 2 and rows[0]["Status"] == "done")
    # Edit > Undo import… with nothing selected says what to do
    panel.table.clearSelection()
    assert w.undo_import_action.isEnabled()
    w.undo_import_action.trigger()
    assert panel.confirm_box is None
    assert w.said[-1].startswith("Select the import to undo")
    select(qtbot, panel, 2)
    with qtbot.waitSignal(panel.undoFinished, timeout=30_000):
        w.undo_import_action.trigger()
        text, _ = confirm(qtbot, panel)
    assert text == "Undo import #2 (two.ndjson): 2 accepted events leave the totals."
    expected = {("acme", "USD"): (2, Decimal("12.75")), ("globex", "EUR"): (1, Decimal("7"))}
    qtbot.waitUntil(lambda: totals(w) == expected)
    assert db_totals(w) == expected
    # the row's context menu undoes import 1 too
    wait_rows(qtbot, panel, lambda rows: rows[0]["Status"].startswith("undone"))
    r1 = panel.proxy.mapFromSource(panel.model.index(panel.model.row_of(1), 0))
    panel._on_context_menu(panel.table.visualRect(r1).center())
    menu = panel.context_menu
    undo = next(a for a in menu.actions() if a.text() == "Undo import #1…")
    assert undo.isEnabled()
    with qtbot.waitSignal(panel.undoFinished, timeout=30_000):
        undo.trigger()
        confirm(qtbot, panel)
    qtbot.waitUntil(lambda: totals(w) == {})
    assert w.service.stats() == []
    wait_rows(qtbot, panel, lambda rows: all(r["Status"].startswith("undone") for r in rows))
    assert panel.summary.text().startswith("2 imports · 2 undone — Import #")
    # and an undone row's menu cannot undo it again
    panel._on_context_menu(panel.table.visualRect(r1).center())
    undo = next(a for a in panel.context_menu.actions() if a.text() == "Undo import #1…")
    assert not undo.isEnabled()


def test_a_cancelled_confirmation_changes_nothing(qtbot, window, tmp_path):
    w = window
    panel = show_panel(w)
    ingest_two(qtbot, w, tmp_path)
    rows = wait_rows(qtbot, panel, lambda rows: len(rows) == 2 and rows[0]["Status"] == "done")
    before = db_totals(w)
    qtbot.waitUntil(lambda: totals(w) == before)
    select(qtbot, panel, 1)
    panel.undo_button.click()
    confirm(qtbot, panel, accept=False)
    assert w.said[-1] == "Import #1 was not undone"
    assert panel.confirm_box is None and not panel.undo_status.isVisible()
    assert [i.undone_at for i in w.service.imports()] == [None, None]
    assert db_totals(w) == before and totals(w) == before
    assert shown(panel) == rows
    assert panel.undo_button.isEnabled()


def test_an_import_still_being_ingested_shows_running_and_cannot_be_undone(qtbot, window):
    w = window
    panel = show_panel(w)
    # the writer stops before it reports the import's last outcomes (a subscriber runs on its
    # thread and waits), so the import is still under way
    w.service.batch_size = 100
    text = "\n".join(f'{{"client": "c{i % 5}", "amount": "{i}", "currency": "USD"}}'
                     for i in range(150))
    first_batch, gate = threading.Event(), threading.Event()

    def hold(records):
        if not first_batch.is_set():
            first_batch.set()
            gate.wait(60)
    unsubscribe = w.service.subscribe(hold)
    try:
        w.editor.set_text(text)
        w.editor.send()
        qtbot.waitUntil(first_batch.is_set, timeout=20_000)
        rows = wait_rows(qtbot, panel, lambda rows: rows and rows[0]["Status"] == "running")
        assert rows[0]["Accepted"] in ("100", "150")  # the writer may commit both batches at once
        assert panel.summary.text() == "1 import · 1 running"
        select(qtbot, panel, 1)
        assert not panel.undo_button.isEnabled()
        assert "still being ingested" in panel.undo_button.toolTip()
        panel.request_undo()
        assert panel.confirm_box is None
        assert "still being ingested" in w.said[-1]
        with qtbot.waitSignal(w.bridge.textFinished, timeout=20_000):
            gate.set()
    finally:
        gate.set()
        unsubscribe()
    rows = wait_rows(qtbot, panel, lambda rows: rows[0]["Status"] == "done")
    assert rows[0]["Accepted"] == "150"
    assert panel.undo_button.isEnabled()


def test_a_storage_error_during_undo_is_shown_not_raised(qtbot, db_path, settings):
    from faultsim_desktop.core.retry import RetryPolicy
    from faultsim_desktop.core.service import IngestService
    from faultsim_desktop.ui.main_window import MainWindow

    def factory(path):  # a short busy timeout: the lock below makes the undo fail soon
        return IngestService(path, retry=RetryPolicy(attempts=2, base_delay_s=0.01, cap_s=0.05),
                             workers=0, busy_timeout_ms=300)
    w = MainWindow(factory(db_path), settings, service_factory=factory, restore=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    try:
        panel = show_panel(w)
        send(qtbot, w, ONE, anyway=True)
        wait_rows(qtbot, panel, lambda rows: len(rows) == 1 and rows[0]["Status"] == "done")
        before = db_totals(w)
        qtbot.waitUntil(lambda: totals(w) == before)
        select(qtbot, panel, 1)
        lock = sqlite3.connect(db_path, isolation_level=None)  # another program writes
        lock.execute("BEGIN EXCLUSIVE")
        try:
            with qtbot.waitSignal(panel.undoFailed, timeout=60_000) as failed:
                panel.undo_button.click()
                confirm(qtbot, panel)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        message = failed.args[1]
        assert message.startswith("the database could not be changed, so nothing was undone: ")
        assert "locked by another program" in message
        assert f"Import #1 was not undone: {message}" in w.said
        assert panel.error_box is not None and panel.error_box.isVisible()
        assert panel.error_box.text() == "Import #1 (pasted) was not undone"
        panel.error_box.close()
        assert not panel.undo_status.isVisible() and panel.undo_button.isEnabled()
        assert w.service.imports()[0].undone_at is None and db_totals(w) == before
        # the lock gone, the same undo goes through
        with qtbot.waitSignal(panel.undoFinished, timeout=30_000):
            panel.undo_button.click()
            confirm(qtbot, panel)
        qtbot.waitUntil(lambda: totals(w) == {})
    finally:
        w.close()
        assert_nothing_running(w)


def test_behind_another_tab_the_list_is_not_read_and_shows_once_raised(qtbot, window, tmp_path):
    """In the default layout the Imports tab sits behind the Live log: Qt keeps it "visible"
    out of sight, yet its counts (a scan of every stored event) are not read for nobody while
    events stream in; raising its tab reads them, and they are the database's."""
    svc = window.service
    reads = []
    real = svc.imports

    def counted(*args, **kwargs):
        reads.append(1)
        return real(*args, **kwargs)
    svc.imports = counted
    panel = window.imports_panel
    qtbot.waitUntil(lambda: window.docks["log"].widget().visibleRegion().isEmpty() is False)
    assert panel.visibleRegion().isEmpty()  # behind the Live log's tab
    before = len(reads)
    ingest_two(qtbot, window, tmp_path)
    qtbot.wait(1500)  # fifteen of the bridge's ticks, three read gaps of the panel
    assert len(reads) == before
    window.docks["imports"].raise_()
    rows = wait_rows(qtbot, panel, lambda rows: len(rows) == 2
                     and all(r["Status"] == "done" for r in rows))
    assert len(reads) > before
    assert [(r["#"], r["Accepted"]) for r in rows] == [("2", "2"), ("1", "3")]
