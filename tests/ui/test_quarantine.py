"""A quarantined event, fixed in the editor and resubmitted, is accepted."""
from decimal import Decimal

from .helpers import send, totals


def test_fix_and_resubmit_a_quarantined_event(qtbot, window):
    summary = send(qtbot, window, '{"client": "acme", "amount": "twelve", "currency": "USD"}')
    assert summary.rejected == 1
    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 1)
    entry = window.quarantine_panel.model.row(0)
    assert "twelve" in entry.reason

    window.quarantine_panel.table.selectRow(0)
    window.quarantine_panel.open_button.click()
    assert window.editor.fixing == entry.id
    assert window.editor.fix_bar.isVisible()
    assert '"twelve"' in window.editor.text()

    window.editor.set_text(window.editor.text().replace('"twelve"', '"12"'))
    with qtbot.waitSignal(window.bridge.resubmitFinished, timeout=20_000) as blocker:
        window.editor.resubmit_button.click()
    qid, result = blocker.args
    assert qid == entry.id and result.accepted == 1
    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 0)
    qtbot.waitUntil(lambda: totals(window) == {("acme", "USD"): (1, Decimal(12))})
    assert window.editor.fixing is None
    assert window.service.quarantine_entry(entry.id).status == "resolved"


def test_bad_lines_sample_sent_anyway(qtbot, window):
    path = next(p for p in window.editor.sample_files() if p.name == "bad_lines.ndjson")
    window.editor.load_sample(path)
    qtbot.waitUntil(lambda: window.editor.send_anyway_button.isVisible())
    with qtbot.waitSignal(window.bridge.textFinished, timeout=20_000) as blocker:
        window.editor.send_anyway_button.click()
    s = blocker.args[0]
    assert s.received == 9 and s.rejected == 6 and s.accepted == 3
    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 6)
