"""The window is usable on a 1024x640 screen and cuts nothing important at 1366x768 or
1920x1080: it can be that small, the charts keep useful heights, the clients table shows Total,
and at 1920 the dates are whole."""
import json

import pytest
from PySide6.QtCore import QPoint, QRect, Qt

from .helpers import send

EVENTS = [{"client": name, "amount": amount, "currency": cur, "ts": "2024-05-01T08:00:00Z"}
          for name, amount, cur in [("Müller Maschinenbau GmbH & Co. KG", "1234567.89", "EUR"),
                                    ("acme", "19.75", "USD"), ("Zürich AG", "1234.50", "CHF")]]


def _resize(qtbot, window, w, h):
    window.resize(w, h)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (w, h))


def _column_rect(table, column: int) -> QRect:
    """Where the table shows ``column``'s header, clipped to what the viewport shows."""
    header = table.horizontalHeader()
    x = header.sectionViewportPosition(column)
    return QRect(x, 0, header.sectionSize(column), 1).intersected(
        QRect(0, 0, table.viewport().width(), 1))


def test_the_window_fits_1024x640(qtbot, window):
    assert window.minimumSizeHint().width() <= 900
    assert window.minimumSizeHint().height() <= 600
    send(qtbot, window, json.dumps(EVENTS))
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 3)
    _resize(qtbot, window, 1024, 640)
    # the charts keep useful heights (they were 94 and 68 px)
    qtbot.waitUntil(lambda: window.totals_chart.plot.height() >= 120)
    assert window.rate_chart.plot.height() >= 70
    assert window.totals_chart.visible_rows() >= 5
    # the Total column is whole in the clients table's viewport, right after the client
    table = window.clients.table
    total = _column_rect(table, 3)
    assert total.width() == table.horizontalHeader().sectionSize(3) > 0
    assert table.horizontalHeader().visualIndex(3) == 1
    m = window.clients.model
    row = next(i for i in range(m.rowCount()) if m.rows()[i].currency == "EUR")
    text = m.data(m.index(row, 3), Qt.ItemDataRole.DisplayRole)
    assert text == "1,234,567.89"
    assert table.fontMetrics().horizontalAdvance(text) < table.columnWidth(3)


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_nothing_important_is_cut(qtbot, window, size):
    send(qtbot, window, json.dumps(EVENTS))
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 3)
    _resize(qtbot, window, *size)
    table = window.clients.table
    fm = table.fontMetrics()
    m = window.clients.model
    shown = [3, 1, 2] + ([4, 5] if size[0] >= 1920 else [])
    assert _column_rect(table, 0).width() == table.horizontalHeader().sectionSize(0)
    for column in shown:
        qtbot.waitUntil(lambda: _column_rect(table, column).width()
                        == table.horizontalHeader().sectionSize(column))
        for r in range(m.rowCount()):
            text = m.data(m.index(r, column), Qt.ItemDataRole.DisplayRole)
            assert fm.horizontalAdvance(text) <= table.columnWidth(column), (column, text)
    assert window.totals_chart.plot.height() >= 200
    assert window.rate_chart.plot.height() >= 80


def test_the_default_layout_follows_the_window_until_the_user_arranges_it(qtbot, window):
    clients = window.docks["clients"]
    narrow = clients.width()
    _resize(qtbot, window, 1920, 1080)
    qtbot.waitUntil(lambda: clients.width() > narrow)
    # a press on the separator left of the clients dock: from now on the user's sizes stay
    at = QPoint(clients.x() - 2, clients.y() + 40)
    assert window.childAt(at) is None
    qtbot.mousePress(window, Qt.MouseButton.LeftButton, pos=at)
    qtbot.mouseRelease(window, Qt.MouseButton.LeftButton, pos=at)
    wide = clients.width()
    _resize(qtbot, window, 1600, 1000)  # the default layout would give the clients less
    assert clients.width() == wide
    window.reset_layout_action.trigger()  # View > Reset layout follows the window again
    _resize(qtbot, window, 1024, 640)
    qtbot.waitUntil(lambda: clients.width() < wide)


def test_the_status_bar_counters_stay_whole_at_1024_during_a_crash(qtbot, window):
    """At 1024x640, with an ingest's progress, Cancel and the crash label all showing, the
    counters (pending last) are whole: the database path gives way, not them."""
    from faultsim_desktop.ui.bridge import Counters

    _resize(qtbot, window, 1024, 640)
    window.crash_action.setChecked(True)
    window.progress.setRange(0, 1000)
    window.progress.setValue(510)
    window.progress.setFormat("big-file-with-a-long-name.ndjson: %p%")
    window.progress.show()
    window.cancel_button.show()
    big = Counters(accepted=1_260_263, duplicates=306_713, rejected=71_626, failed=120_997,
                   pending=120_997, events_per_s=81_234.0, queue_depth=60_000)
    label = window.counters_label

    def whole() -> bool:  # the bridge's own ticks set the real (small) counters meanwhile
        window.update_counters(big)
        return label.width() >= label.sizeHint().width()
    qtbot.waitUntil(whole)
    assert label.text().endswith("pending 120,997")
    assert label.geometry().right() <= window.statusBar().width()
    assert window.crash_label.isVisible()
    window.crash_action.setChecked(False)


def test_a_file_summary_does_not_contradict_the_counters_after_a_crash():
    """The file's summary says where its failed events went; once they were sent again it
    does not leave "2,997 failed" beside the counters' "failed 0"."""
    from faultsim_desktop.core.service import Summary
    from faultsim_desktop.ui.status_reports import summary_text

    drained = summary_text("Files", Summary(received=301_384, accepted=261_357,
                                            duplicates=29_793, rejected=7_237, failed=2_997))
    assert drained == ("Files: 301,384 events — 261,357 accepted, 29,793 duplicates, 7,237 "
                       "rejected, 2,997 failed into the pending outbox (all sent again since; "
                       "the counters show how they ended)")
    waiting = summary_text("Files", Summary(received=10, accepted=4, failed=6, pending=6))
    assert waiting.endswith("6 failed into the pending outbox (it holds 6 now)")
    clean = summary_text("Pasted", Summary(received=2, accepted=1, duplicates=1))
    assert clean == "Pasted: 2 events — 1 accepted, 1 duplicates, 0 rejected"


# what a 1,000,000-line feed file gives (benchmarks/corpus.py), and five times that
MILLION = dict(received=1_000_000, accepted=759_441, duplicates=200_207, rejected=40_352)
FIVE_MILLION = dict(received=5_000_000, accepted=3_800_501, duplicates=999_578, rejected=199_921)


@pytest.mark.parametrize("size,counts", [((1024, 640), MILLION), ((1366, 768), FIVE_MILLION),
                                         ((1920, 1080), FIVE_MILLION)])
def test_a_file_summary_in_the_status_bar_is_whole(qtbot, window, size, counts):
    """After a large file the summary and the counters both hold its numbers; the summary
    ends left of the counters (the rate gives way while it shows), the counters stay whole,
    and the rate comes back when the summary goes."""
    from faultsim_desktop.core.service import Summary
    from faultsim_desktop.ui.status_reports import summary_text

    _resize(qtbot, window, *size)
    session = window.service.counters  # what the bridge's ticks show in the counters
    session.accepted, session.duplicates = counts["accepted"], counts["duplicates"]
    session.rejected = counts["rejected"]
    label = window.counters_label
    qtbot.waitUntil(lambda: label.text().startswith(f"accepted {counts['accepted']:,}"))
    text = summary_text("Files", Summary(**counts))
    window._on_files_finished(Summary(**counts))
    bar = window.statusBar()
    assert bar.currentMessage() == text
    qtbot.waitUntil(lambda: label.isVisible() and label.width() >= label.sizeHint().width()
                    and label.geometry().left()
                    >= bar.fontMetrics().horizontalAdvance(text) + 6)
    assert bar.toolTip() == text
    bar.clearMessage()
    qtbot.waitUntil(lambda: window.rate_label.isVisible())
    assert bar.toolTip() == ""


_TAB_GROUPS = """
import json, sys, tempfile
from pathlib import Path
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QTabBar
from faultsim_desktop.ui.app import create_window, make_application, make_settings

def groups(w):
    out = set()
    for bar in w.findChildren(QTabBar):
        if bar.parent() is w and bar.isVisible() and bar.count():
            if QRect(bar.mapTo(w, QPoint(0, 0)), bar.size()).intersects(w.rect()):
                out.add(tuple(bar.tabText(i) for i in range(bar.count())))
    return sorted(out)

app = make_application()
folder = Path(tempfile.mkdtemp())
w = create_window(folder / "t.db", make_settings(folder / "t.ini"), workers=0, restore=False)
w.resize(1024, 640)
w.show()
for _ in range(20):
    app.processEvents()
first = groups(w)
w.reset_layout_action.trigger()
for _ in range(20):
    app.processEvents()
print(json.dumps([first, groups(w)]))
w.close()
w.service.close()
"""


def test_only_the_two_dock_tab_groups_show_at_1024(tmp_path):
    """Tabbing the bottom docks once left a second "Live log | Quarantine" tab bar behind,
    which a 1024x640 window showed over the log's column headers. The window as the app
    builds it (its own application object, in a process of its own), and again after View >
    Reset layout, shows the two tab groups and nothing else."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _TAB_GROUPS], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    first, after_reset = json.loads(out.splitlines()[-1])
    groups = [["Clients", "Explain"], ["Live log", "Quarantine", "Pending", "Imports"]]
    assert first == groups
    assert after_reset == groups
