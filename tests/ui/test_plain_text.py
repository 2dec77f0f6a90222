"""Untrusted text (client names, reasons, raw events) shows literally, never as HTML."""
from PySide6.QtCore import Qt
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
    ticks = window.totals_chart.plot.getAxis("bottom")._tickLevels[0]
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
