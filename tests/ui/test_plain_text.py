"""Untrusted text (client names, reasons, raw events) shows literally, never as HTML."""
import json

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QLabel

from .helpers import send

NAME = "<b>x</b>"


def test_html_client_name_shows_literally(qtbot, window):
    send(qtbot, window, '{"client": "<b>x</b>", "amount": 3, "currency": "USD"}\n'
                        '{"client": "<i>bad</i>", "amount": "<script>"}', anyway=True)
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 1)
    m = window.clients.model
    assert m.data(m.index(0, 0), Qt.ItemDataRole.DisplayRole) == NAME
    log = window.log_view.model
    qtbot.waitUntil(lambda: log.rowCount() == 2)
    assert log.data(log.index(0, 2), Qt.ItemDataRole.DisplayRole) == NAME
    assert "<script>" in log.data(log.index(1, 7), Qt.ItemDataRole.DisplayRole)
    ticks = window.totals_chart.plot.getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == [NAME]
    assert NAME in window.totals_chart.describe(0)

    dialog = window.open_record(log.record(0))
    labels = dialog.findChildren(QLabel)
    shown = [lab for lab in labels if lab.text() == NAME]
    assert shown and all(lab.textFormat() == Qt.TextFormat.PlainText for lab in shown)
    dialog.close()

    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 1)
    q = window.quarantine_panel.model
    tip = q.data(q.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert "&lt;script&gt;" in tip and "<script>" not in tip  # escaped for the tooltip


def test_every_label_with_data_is_plain_text(window):
    for name in ("countersLabel", "dbLabel", "editorError", "eventCount", "chartHover"):
        label = window.findChild(QLabel, name)
        assert label is not None and label.textFormat() == Qt.TextFormat.PlainText, name


HOSTILE = ["<qt><font color=red>rich</font></qt>", "<img src=x onerror=alert(1)>",
           "abc\u202edcba", "nul\x00byte", "\U0001F600 \U0001F1E8\U0001F1ED", "%s %n {0}",
           "'); DROP TABLE events;--"]


def test_names_that_look_like_code_show_exactly(qtbot, window):
    """Qt rich text, markup, a right-to-left override, NUL, emoji, format strings and SQL show
    as given in the clients table, the log, the chart's hover text and the event dialog. The
    chart's axis labels are short: they cut long names in the middle and show non-printable characters
    (NUL, the override) as '?', so one label cannot reorder or hide another."""
    from PySide6.QtGui import QFontMetrics

    from faultsim_desktop.ui.charts import axis_label

    text = "\n".join(json.dumps({"client": n, "amount": i + 1, "currency": "USD"})
                     for i, n in enumerate(HOSTILE))
    text += '\n{"client": "q", "amount": "<qt><b>12</b></qt>"}'
    send(qtbot, window, text, anyway=True)
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == len(HOSTILE))
    m = window.clients.model
    assert {m.data(m.index(r, 0), Qt.ItemDataRole.DisplayRole)
            for r in range(m.rowCount())} == set(HOSTILE)
    log = window.log_view.model
    qtbot.waitUntil(lambda: log.rowCount() == len(HOSTILE) + 1)
    assert {log.data(log.index(r, 2), Qt.ItemDataRole.DisplayRole)
            for r in range(log.rowCount())} == set(HOSTILE) | {""}  # "" for the rejected one

    chart = window.totals_chart
    axis = chart.plot.getAxis("left")
    metrics = QFontMetrics(axis.font())
    labels = [label for _, label in axis._tickLevels[0]]
    room = chart.label_room_px()
    assert sorted(labels) == sorted(axis_label(n, metrics, room) for n in HOSTILE)
    assert axis_label("abc\u202edcba", metrics, room) == "abc?dcba"
    assert all(metrics.horizontalAdvance(label) <= room for label in labels)
    for i, (row, _) in enumerate(chart.shown):
        assert chart.describe(i).startswith(row.client + " — USD: total ")
    vb = chart.plot.getPlotItem().vb
    chart._on_mouse_moved(vb.mapViewToScene(QPointF(float(chart.shown[0].value) / 2, 0)))
    assert chart.hover_label.text() == chart.describe(0)
    assert chart.hover_text.toPlainText().startswith(chart.shown[0].row.client + "\n")

    for r in range(log.rowCount()):
        record = log.record(r)
        if record.client in HOSTILE:
            dialog = window.open_record(record)
            labels = [lab for lab in dialog.findChildren(QLabel) if lab.text() == record.client]
            assert labels and all(lab.textFormat() == Qt.TextFormat.PlainText for lab in labels)
            dialog.close()

    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 1)
    q = window.quarantine_panel.model
    assert "<qt><b>12</b></qt>" in q.data(q.index(0, 1), Qt.ItemDataRole.DisplayRole)
    tip = q.data(q.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert "&lt;qt&gt;&lt;b&gt;12" in tip and "<b>12" not in tip
