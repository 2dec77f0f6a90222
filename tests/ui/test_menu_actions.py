"""Every menu and toolbar action, driven as a user would: each leaves the window alive and does
what its label says. The actions are found in the window, so a new one without a check here
fails `test_every_action_has_a_check`."""
import csv
import fnmatch
import json
import socket
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from faultsim_desktop.core.faults import FaultMode, FaultPoint
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.ui.faults_panel import POINT_LABELS

from .conftest import _OFFSCREEN_NOISE as OFFSCREEN_NOISE
from .helpers import assert_nothing_running, send, totals

EVENTS = "\n".join([
    '{"client": "acme", "amount": "10.50", "currency": "USD", "event_id": "m1"}',
    '{"client": "acme", "amount": "2.25", "currency": "USD", "event_id": "m2"}',
    '{"client": "globex", "amount": "7", "currency": "EUR", "event_id": "m3"}',
])
EVENTS_TOTALS = {("acme", "USD"): (2, Decimal("12.75")), ("globex", "EUR"): (1, Decimal("7"))}
DOCK_TITLES = ["Event editor", "Crash simulation", "Clients", "Live log", "Quarantine", "Pending",
               "Explain"]


def clean(text: str) -> str:
    return text.replace("&", "")


def entries(w) -> list[tuple[str, QAction]]:
    """(path, action) of every item of the menu bar (through submenus) and of the toolbar."""
    found = []

    def walk(menu, prefix):
        for a in menu.actions():
            if a.isSeparator():
                continue
            if a.menu() is not None:
                walk(a.menu(), f"{prefix}/{clean(a.text())}")
            else:
                found.append((f"{prefix}/{clean(a.text())}", a))
    for top in w.menuBar().actions():
        walk(top.menu(), clean(top.text()))
    for a in w.toolbar.actions():
        if a.isSeparator():
            continue
        widget = w.toolbar.widgetForAction(a)
        name = clean(a.text()) or widget.objectName() or type(widget).__name__
        found.append((f"Toolbar/{name}", a))
    return found


@dataclass
class Ctx:
    qtbot: object
    w: object
    action: QAction
    path: str
    tmp_path: Path
    monkeypatch: object
    request: object

    def trigger(self) -> None:
        """Use the item where it is: a toolbar button is clicked, a menu item triggered."""
        if self.path.startswith("Toolbar/"):
            self.w.toolbar.widgetForAction(self.action).click()
        else:
            assert self.action.isEnabled(), f"{self.path} is disabled"
            self.action.trigger()


def answer_modal(qtbot, answer) -> list:
    """Answer the next modal dialog (opened with exec()) by calling ``answer(dialog)``."""
    done = []
    timer = QTimer()
    timer.setInterval(20)

    def look():
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            timer.stop()
            done.append(dialog)
            answer(dialog)
    timer.timeout.connect(look)
    timer.start()
    done.append(timer)  # kept alive by the caller's reference
    return done


def _ingest_user_events(ctx) -> None:
    s = send(ctx.qtbot, ctx.w, EVENTS)
    assert s.accepted == 3
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)


def _events_file(ctx, name="events.ndjson") -> Path:
    path = ctx.tmp_path / name
    path.write_text(EVENTS + "\n", encoding="utf-8")
    return path


def check_new_database(ctx):
    _ingest_user_events(ctx)
    new = ctx.tmp_path / "fresh.db"
    ctx.monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(new), ""))
    ctx.trigger()
    assert ctx.w.service.db_path == new and new.exists()
    assert ctx.w.windowTitle() == "faultsim-desktop — fresh.db"
    assert ctx.w.service.counts()["events"] == 0
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == {})


def check_open_database(ctx):
    other = ctx.tmp_path / "other.db"
    with IngestService(other, workers=0) as svc:
        svc.submit_text('{"client": "other", "amount": "4.40", "currency": "CHF"}').wait()
    ctx.monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    ctx.trigger()
    assert ctx.w.service.db_path == other
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == {("other", "CHF"): (1, Decimal("4.40"))})


def check_open_postgres(ctx):
    url = ctx.request.getfixturevalue("pg_db")

    def answer(dialog):
        assert isinstance(dialog, QInputDialog) and dialog.objectName() == "openPostgresDialog"
        dialog.setTextValue(url)
        dialog.accept()
    answered = answer_modal(ctx.qtbot, answer)
    ctx.trigger()
    assert isinstance(answered[-1], QInputDialog)
    assert ctx.w.service.db_path == url
    send(ctx.qtbot, ctx.w, EVENTS)
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    ctx.w.close()  # before the database is dropped


def check_open_files(ctx):
    path = _events_file(ctx)
    ctx.monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(path)], ""))
    with ctx.qtbot.waitSignal(ctx.w.bridge.filesFinished, timeout=30_000) as blocker:
        ctx.trigger()
    assert blocker.args[0].accepted == 3
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    assert [clean(a.text()) for a in ctx.w.recent_menu.actions()] == [str(path)]


def check_load_into_editor(ctx):
    path = _events_file(ctx)
    ctx.monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    ctx.trigger()
    assert ctx.w.editor.text() == path.read_text(encoding="utf-8")
    assert ctx.w.service.counts()["events"] == 0  # loaded, not sent


def check_recent_none(ctx):
    assert not ctx.action.isEnabled()  # a placeholder: nothing to open yet


def check_recent_file(ctx):
    path = Path(clean(ctx.action.text()))
    with ctx.qtbot.waitSignal(ctx.w.bridge.filesFinished, timeout=30_000) as blocker:
        ctx.trigger()
    assert blocker.args[0].accepted == 3
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    assert path.exists()


def _export_to(ctx, name):
    out = ctx.tmp_path / name
    ctx.monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    return out


def check_export_events_csv(ctx):
    _ingest_user_events(ctx)
    out = _export_to(ctx, "events.csv")
    with ctx.qtbot.waitSignal(ctx.w.bridge.exportFinished, timeout=20_000):
        ctx.trigger()
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == ctx.w.service.counts()["events"] == 3
    assert sorted((r["client"], r["currency"], Decimal(r["amount"])) for r in rows) == [
        ("acme", "USD", Decimal("2.25")), ("acme", "USD", Decimal("10.50")),
        ("globex", "EUR", Decimal("7"))]


def check_export_events_ndjson(ctx):
    _ingest_user_events(ctx)
    out = _export_to(ctx, "events.ndjson")
    with ctx.qtbot.waitSignal(ctx.w.bridge.exportFinished, timeout=20_000):
        ctx.trigger()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == ctx.w.service.counts()["events"] == 3
    assert sorted((r["client"], Decimal(r["amount"])) for r in rows) == [
        ("acme", Decimal("2.25")), ("acme", Decimal("10.50")), ("globex", Decimal("7"))]


def check_export_clients_csv(ctx):
    _ingest_user_events(ctx)
    out = _export_to(ctx, "clients.csv")
    with ctx.qtbot.waitSignal(ctx.w.bridge.exportFinished, timeout=20_000):
        ctx.trigger()
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["client"], r["currency"]): (int(r["count"]), Decimal(r["total"]))
            for r in rows} == EVENTS_TOTALS == totals(ctx.w)


def check_export_log_csv(ctx):
    _ingest_user_events(ctx)
    out = _export_to(ctx, "log.csv")
    with ctx.qtbot.waitSignal(ctx.w.bridge.taskDone, timeout=20_000):
        ctx.trigger()
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    shown = ctx.w.log_view.model.rows()
    assert len(rows) == len(shown) == 3
    assert [r["outcome"] for r in rows] == [r.outcome.value for r in shown] == ["accepted"] * 3


def check_export_chart_png(ctx):
    _ingest_user_events(ctx)
    out = _export_to(ctx, "chart.png")
    ctx.trigger()
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    image = QImage(str(out))
    chart = ctx.w.totals_chart
    ratio = chart.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(chart.width() * ratio),
                                               round(chart.height() * ratio))
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert len(colours) > 3  # the bars and axes are drawn, not a blank image


def check_reset_database(ctx):
    _ingest_user_events(ctx)
    # Cancel keeps everything
    keep = answer_modal(ctx.qtbot, lambda box: box.button(QMessageBox.StandardButton.Cancel).click())
    ctx.trigger()
    assert isinstance(keep[-1], QMessageBox) and ctx.w.service.counts()["events"] == 3
    # Reset deletes everything
    reset = answer_modal(ctx.qtbot, lambda box: box.button(QMessageBox.StandardButton.Reset).click())
    with ctx.qtbot.waitSignal(ctx.w.bridge.resetFinished, timeout=20_000):
        ctx.trigger()
    assert isinstance(reset[-1], QMessageBox)
    assert ctx.w.service.counts()["events"] == 0 and ctx.w.service.stats() == []
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == {})
    ctx.qtbot.waitUntil(lambda: ctx.w.counters_label.text().startswith("accepted 0 "))


def check_quit(ctx):
    ctx.trigger()
    assert not ctx.w.isVisible()
    assert_nothing_running(ctx.w)


def check_send(ctx):
    ctx.w.editor.set_text(EVENTS)
    with ctx.qtbot.waitSignal(ctx.w.bridge.textFinished, timeout=20_000) as blocker:
        ctx.trigger()
    assert (blocker.args[0].received, blocker.args[0].accepted) == (3, 3)
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    ctx.qtbot.waitUntil(lambda: ctx.w.counters_label.text().startswith("accepted 3 "))


def check_send_anyway(ctx):
    ctx.w.editor.set_text(EVENTS + '\n{"client": "broken", "amount": ')
    with ctx.qtbot.waitSignal(ctx.w.bridge.textFinished, timeout=20_000) as blocker:
        ctx.trigger()
    s = blocker.args[0]
    assert (s.accepted, s.rejected) == (3, 1)
    ctx.qtbot.waitUntil(lambda: ctx.w.quarantine_panel.model.rowCount() == 1)
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)


def check_send_again(ctx):
    assert not ctx.action.isEnabled()  # nothing was sent yet
    _ingest_user_events(ctx)
    ctx.w.editor.set_text("")
    with ctx.qtbot.waitSignal(ctx.w.bridge.textFinished, timeout=20_000) as blocker:
        ctx.trigger()
    assert (blocker.args[0].accepted, blocker.args[0].duplicates) == (0, 3)
    assert totals(ctx.w) == EVENTS_TOTALS and ctx.w.service.counts()["events"] == 3


def check_format(ctx):
    ctx.w.editor.set_text('[{"client":"a","amount":"1"},{"client":"b","amount":"2"}]')
    ctx.trigger()
    text = ctx.w.editor.text()
    assert text.count("\n") >= 3 and json.loads(text) == [{"client": "a", "amount": "1"},
                                                           {"client": "b", "amount": "2"}]


def check_compact(ctx):
    ctx.w.editor.set_text('{\n  "client": "a",\n  "amount": "1"\n}\n{\n  "client": "b"\n}')
    ctx.trigger()
    lines = ctx.w.editor.text().strip().splitlines()
    assert [json.loads(line) for line in lines] == [{"client": "a", "amount": "1"},
                                                    {"client": "b"}]


def check_sample(ctx):
    path = Path(ctx.action.data())
    ctx.trigger()
    assert ctx.w.editor.text() == path.read_text(encoding="utf-8")


def check_schemas(ctx):
    ctx.trigger()
    dialog = ctx.w.schemas_dialog
    assert dialog is not None
    ctx.qtbot.waitUntil(dialog.isVisible)
    dialog.close()


def check_cancel_ingest(ctx):
    assert not ctx.action.isEnabled()  # nothing to cancel while idle
    path = ctx.tmp_path / "big.ndjson"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(150_000):
            f.write(f'{{"client": "c{i % 20}", "amount": "{i % 500}.5", "currency": "USD", '
                    f'"event_id": "b{i}"}}\n')
    cancelled = []

    def on_progress(_p):
        if not cancelled and ctx.action.isEnabled():
            cancelled.append(True)
            ctx.trigger()
    ctx.w.bridge.fileProgress.connect(on_progress)
    with ctx.qtbot.waitSignal(ctx.w.bridge.filesFinished, timeout=120_000) as blocker:
        ctx.w.ingest_files([str(path)])
    s = blocker.args[0]
    assert cancelled and s.cancelled and s.received < 150_000
    assert ctx.w.service.counts()["events"] == s.accepted  # what was committed stays, once
    ctx.qtbot.waitUntil(lambda: not ctx.action.isEnabled())


def check_dock_toggle(ctx):
    dock = next(d for d in ctx.w.docks.values() if d.toggleViewAction() is ctx.action)
    assert dock.isVisible() or not dock.isHidden()
    ctx.trigger()
    assert dock.isHidden() and not ctx.action.isChecked()
    ctx.trigger()
    assert not dock.isHidden() and ctx.action.isChecked()


def check_undo_import(ctx):
    _ingest_user_events(ctx)
    panel = ctx.w.imports_panel
    ctx.w.docks["imports"].raise_()
    ctx.qtbot.waitUntil(lambda: panel.select_import(1))
    with ctx.qtbot.waitSignal(panel.undoFinished, timeout=30_000):
        ctx.trigger()
        ctx.qtbot.waitUntil(lambda: panel.confirm_box is not None)
        panel.confirm_button.click()
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == {})
    assert ctx.w.service.stats() == []


def check_explain_event(ctx):
    _ingest_user_events(ctx)
    panel = ctx.w.explain_panel
    ctx.trigger()
    ctx.qtbot.waitUntil(lambda: panel.id_box.hasFocus())
    ctx.qtbot.keyClicks(panel.id_box, "3")
    ctx.qtbot.keyClick(panel.id_box, Qt.Key.Key_Return)
    ctx.qtbot.waitUntil(lambda: panel.current is not None and panel.current.event_id == 3)
    assert panel.title.text() == "Event #3: globex, 7 EUR"


def check_follow(ctx):
    assert ctx.action.isChecked() and ctx.w.log_view.follow.isChecked()
    ctx.trigger()
    assert not ctx.action.isChecked() and not ctx.w.log_view.follow.isChecked()
    ctx.trigger()
    assert ctx.action.isChecked() and ctx.w.log_view.follow.isChecked()


def check_reset_layout(ctx):
    ctx.w.docks["log"].hide()
    ctx.w.docks["clients"].setFloating(True)
    ctx.trigger()
    for dock in ctx.w.docks.values():
        assert not dock.isHidden() and not dock.isFloating(), dock.objectName()


def check_crash(ctx):
    ctx.trigger()
    assert ctx.w.crash_action.isChecked() and ctx.w.service.faults.enabled
    assert ctx.w.banner.isVisible()
    s = send(ctx.qtbot, ctx.w, EVENTS)
    assert (s.accepted, s.failed) == (0, 3)
    ctx.qtbot.waitUntil(lambda: ctx.w.pending_panel.model.rowCount() == 3)
    with ctx.qtbot.waitSignal(ctx.w.bridge.retryFinished, timeout=20_000):
        ctx.trigger()
    assert not ctx.w.service.faults.enabled and ctx.w.banner.isHidden()
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)


def check_client_history(ctx):
    _ingest_user_events(ctx)
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    ctx.w.clients.table.selectAll()
    ctx.trigger()
    chart = ctx.w.history_dialog.chart
    ctx.qtbot.waitUntil(lambda: len(chart.lines) == 2)
    assert chart.currency_box.currentText() == "USD"  # the currency most events are in
    assert chart.legend_names() == ["acme (USD)"]
    chart.currency_box.setCurrentIndex(chart.currency_box.findText("All currencies"))
    chart.currency_box.activated.emit(chart.currency_box.currentIndex())
    assert sorted(chart.legend_names()) == ["acme (USD)", "globex (EUR)"]
    assert {d.client: d.exact[-1] for d in chart.lines.values()} == {
        "acme": Decimal("12.75"), "globex": Decimal("7")}


def check_fault_point(ctx):
    point = next(p for p, label in POINT_LABELS.items() if label == clean(ctx.action.text()))
    ctx.trigger()
    assert ctx.action.isChecked() and ctx.w.fault_panel.fault_point() is point
    assert ctx.w.service.faults.get(point).mode is FaultMode.ALWAYS
    assert all(ctx.w.service.faults.get(p).mode is FaultMode.OFF for p in FaultPoint if p != point)


def check_retry_pending(ctx):
    ctx.w.fault_panel.set_fault(FaultPoint.BEFORE_WRITE, FaultMode.NEXT_N, count=3)
    ctx.w.crash_action.trigger()
    s = send(ctx.qtbot, ctx.w, EVENTS)  # three attempts, all refused: the events wait
    assert s.failed == 3
    ctx.qtbot.waitUntil(lambda: ctx.w.pending_panel.model.rowCount() == 3)
    with ctx.qtbot.waitSignal(ctx.w.bridge.retryFinished, timeout=20_000) as blocker:
        ctx.trigger()
    assert blocker.args[0].accepted == 3
    ctx.qtbot.waitUntil(lambda: ctx.w.pending_panel.model.rowCount() == 0)
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    with ctx.qtbot.waitSignal(ctx.w.bridge.retryFinished, timeout=20_000):
        ctx.w.crash_action.trigger()


def check_demo(ctx):
    _ingest_user_events(ctx)
    mine = ctx.w.service.db_path
    ctx.trigger()
    demo = ctx.w.demo
    assert demo.running and ctx.w.service.db_path == demo.demo_db != mine
    assert "DEMO" in ctx.w.windowTitle() and demo.banner.isVisible()
    ctx.qtbot.waitUntil(lambda: ctx.w.service.counts()["events"] > 0, timeout=60_000)
    with ctx.qtbot.waitSignal(demo.finished, timeout=60_000):
        demo.banner.stop_button.click()
    assert ctx.w.service.db_path == mine and ctx.w.service.counts()["events"] == 3
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)


def check_scenarios(ctx):
    _ingest_user_events(ctx)
    ctx.trigger()
    sw = ctx.w.scenarios_window
    ctx.qtbot.waitUntil(sw.isVisible)
    assert sw.entries[0].builtin == "demo" and sw.play_action.isEnabled()
    sw.close()
    assert not sw.live and ctx.w.service.counts()["events"] == 3  # the user's database untouched


def _open_box(ctx, title):
    ctx.trigger()
    boxes = [b for b in ctx.w.findChildren(QMessageBox) if b.isVisible()
             and b.windowTitle() == title]
    assert len(boxes) == 1
    return boxes[0]


def check_shortcuts(ctx):
    box = _open_box(ctx, "Keyboard shortcuts")
    for shortcut, what in (("Ctrl+K", "Simulate database crash"), ("F5", "Play the demo"),
                           ("Ctrl+Return", "Send")):
        assert any(line.startswith(shortcut) and line.endswith(what)
                   for line in box.text().splitlines()), (shortcut, box.text())
    box.close()


def check_about(ctx):
    import sqlite3

    from faultsim_desktop import __version__, speedups, sqlite_library

    box = _open_box(ctx, "About faultsim-desktop")
    assert f"faultsim-desktop {__version__}" in box.text()
    # how the engine runs here: compiled, or which of its modules run from source and why
    assert f"Engine: {speedups.summary()}" in box.text()
    # and whether SQLite's memory statistics could be turned off before sqlite3 started
    assert f"SQLite {sqlite3.sqlite_version}: {sqlite_library.status()}" in box.text()
    box.close()


def check_serve(ctx):
    serve = ctx.w.serve_control
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.port.setValue(port)
    serve.button.click()
    assert serve.running and serve.url == f"http://127.0.0.1:{port}"
    r = httpx.post(f"{serve.url}/events", content=EVENTS, timeout=20)
    assert r.status_code in (200, 201), r.text
    ctx.qtbot.waitUntil(lambda: totals(ctx.w) == EVENTS_TOTALS)
    with ctx.qtbot.waitSignal(serve.runningChanged, timeout=20_000):
        serve.button.click()
    assert not serve.running


CHECKS = {
    "File/New database…": check_new_database,
    "File/Open database…": check_open_database,
    "File/Open PostgreSQL database…": check_open_postgres,
    "File/Open JSON file(s)…": check_open_files,
    "File/Load file into editor…": check_load_into_editor,
    "File/Recent files/(none yet)": check_recent_none,
    "File/Recent files/*": check_recent_file,
    "File/Export/Events as CSV…": check_export_events_csv,
    "File/Export/Events as NDJSON…": check_export_events_ndjson,
    "File/Export/Per-client totals as CSV…": check_export_clients_csv,
    "File/Export/Log as CSV…": check_export_log_csv,
    "File/Export/Chart as PNG…": check_export_chart_png,
    "File/Reset database…": check_reset_database,
    "File/Quit": check_quit,
    "Edit/Send": check_send,
    "Edit/Send anyway": check_send_anyway,
    "Edit/Send again": check_send_again,
    "Edit/Format JSON": check_format,
    "Edit/Compact JSON": check_compact,
    "Edit/Samples/*": check_sample,
    "Edit/Client schemas…": check_schemas,
    "Edit/Cancel ingest": check_cancel_ingest,
    "Edit/Undo import…": check_undo_import,
    "View/Imports": check_dock_toggle,
    **{f"View/{title}": check_dock_toggle for title in DOCK_TITLES},
    "View/Client history…": check_client_history,
    "View/Explain event…": check_explain_event,
    "View/Follow the log": check_follow,
    "View/Reset layout": check_reset_layout,
    "Simulate/Simulate database crash": check_crash,
    **{f"Simulate/Fault point/{label}": check_fault_point for label in POINT_LABELS.values()},
    "Simulate/Retry pending now": check_retry_pending,
    "Simulate/Play the demo": check_demo,
    "Simulate/Scenarios…": check_scenarios,
    "Help/Keyboard shortcuts": check_shortcuts,
    "Help/About faultsim-desktop": check_about,
    "Toolbar/Open JSON file(s)…": check_open_files,
    "Toolbar/Send": check_send,
    "Toolbar/Send again": check_send_again,
    "Toolbar/crashSwitch": check_crash,
    "Toolbar/Retry pending now": check_retry_pending,
    "Toolbar/ServeControl": check_serve,
}
NEEDS_POSTGRESQL = {"File/Open PostgreSQL database…"}
MARKS = {
    "File/Open PostgreSQL database…": [pytest.mark.postgresql],
    # floating a dock (the test's setup) makes the offscreen plugin say it cannot raise windows
    "View/Reset layout": [pytest.mark.qt_log_ignore(r"This plugin does not support raise\(\)",
                                                    OFFSCREEN_NOISE)],
}


def check_for(path: str):
    if path in CHECKS:
        return CHECKS[path]
    return next((fn for pattern, fn in CHECKS.items() if "*" in pattern
                 and fnmatch.fnmatchcase(path, pattern)), None)


def test_every_action_has_a_check(window):
    paths = [p for p, _ in entries(window)]
    assert len(paths) == len(set(paths)), "two items share a path: tell them apart"
    missing = [p for p in paths if check_for(p) is None]
    assert not missing, f"menu/toolbar items without a check in this file: {missing}"
    stale = [k for k in CHECKS if "*" not in k and k not in paths]
    assert not stale, f"checks for items the window no longer has: {stale}"
    assert any(fnmatch.fnmatchcase(p, "Edit/Samples/*") for p in paths)


@pytest.mark.parametrize("path", [pytest.param(p, marks=MARKS.get(p, []))
                                  for p in CHECKS if "*" not in p])
def test_action(qtbot, window, tmp_path, monkeypatch, request, path):
    action = dict(entries(window))[path]
    _run(qtbot, window, action, path, tmp_path, monkeypatch, request)


def test_every_sample_action(qtbot, window, tmp_path, monkeypatch, request):
    samples = [(p, a) for p, a in entries(window) if fnmatch.fnmatchcase(p, "Edit/Samples/*")]
    assert len(samples) == len(window.editor.sample_files()) >= 5
    for path, action in samples:
        _run(qtbot, window, action, path, tmp_path, monkeypatch, request)


def test_recent_file_action(qtbot, window, tmp_path, monkeypatch, request):
    path = tmp_path / "recent.ndjson"
    path.write_text(EVENTS + "\n", encoding="utf-8")
    window.settings.setValue("recentFiles", [str(path)])
    window._update_recent_menu()
    (item, action), = [(p, a) for p, a in entries(window) if p.startswith("File/Recent files/")]
    assert item == f"File/Recent files/{path}"
    _run(qtbot, window, action, item, tmp_path, monkeypatch, request)


def _run(qtbot, w, action, path, tmp_path, monkeypatch, request):
    check_for(path)(Ctx(qtbot, w, action, path, tmp_path, monkeypatch, request))
    if path == "File/Quit" or path in NEEDS_POSTGRESQL:
        return
    assert w.isVisible() and not w.grab().isNull()  # alive, and it still paints
