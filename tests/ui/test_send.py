"""Sending adds log rows and updates the chart, the clients table and the counters."""
from decimal import Decimal

from faultsim_desktop.core.model import Outcome

from .helpers import send, totals

EVENTS = """\
{"client": "acme", "amount": "12.50", "currency": "USD"}
{"clientId": "Acme", "Amount": "$7.25"}
{"customer": "globex", "total": "1.234,50 €"}
"""


def test_send_updates_log_chart_clients_and_counters(qtbot, window):
    summary = send(qtbot, window, EVENTS)
    assert (summary.received, summary.accepted) == (3, 3)
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == 3)
    assert [r.outcome for r in window.log_view.model.rows()] == [Outcome.ACCEPTED] * 3

    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 2)
    assert totals(window) == {("acme", "USD"): (2, Decimal("19.75")),
                              ("globex", "EUR"): (1, Decimal("1234.50"))}
    # the chart shows the same aggregates, one currency at a time
    chart = window.totals_chart
    assert chart.currency.currentData() in ("USD", "EUR")
    chart.currency.setCurrentIndex(chart.currency.findData("USD"))
    assert chart.bar_values() == [("acme", Decimal("19.75"))]
    assert list(chart.bars.opts["width"]) == [19.75]  # horizontal bars: the length is the value
    chart.metric_box.setCurrentText("Count")
    assert chart.bar_values() == [("acme", Decimal(2))]
    # and they agree with the engine (what `faultsim stats` prints)
    assert {(r.client, r.currency): (r.count, r.total) for r in window.service.stats()} \
        == totals(window)

    qtbot.waitUntil(lambda: "accepted 3 ·" in window.counters_label.text())
    assert "duplicates 0" in window.counters_label.text()


def test_hover_describes_exact_values(qtbot, window):
    send(qtbot, window, '{"client": "acme", "amount": "0.10", "currency": "USD"}\n'
                        '{"client": "acme", "amount": "0.20", "currency": "USD"}')
    qtbot.waitUntil(lambda: window.totals_chart.bar_values() != [])
    assert window.totals_chart.describe(0) == \
        "acme — USD: total 0.30, count 2, average 0.15"


def test_double_click_opens_the_raw_event(qtbot, window):
    send(qtbot, window, '{"client": "acme", "amount": "5", "note": "hello"}')
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == 1)
    dialog = window.open_record(window.log_view.model.record(0))
    assert '"note": "hello"' in dialog.raw.toPlainText()
    dialog.close()
