"""The drill-down, driven as a user would: a click on a client row or on a bar opens that
client's events read from the database (not the log ring), newest first and paged; the header's
count and exact totals equal the client's rows in the Clients table and follow the filters; the
Clients table's search box; a double-click or Enter on an event asks for its explanation."""
import json

import pytest
from decimal import Decimal

from PySide6.QtCore import QPointF, Qt

from faultsim_desktop.ui.charts import format_money
from faultsim_desktop.ui.drilldown import ANY, DrillCount, sums_text
from faultsim_desktop.ui.paged import PAGE_SIZE

from .conftest import _OFFSCREEN_NOISE as OFFSCREEN_NOISE
from .helpers import send, totals

# a window shown already is raised when it shows another client: offscreen cannot raise
RAISE_NOISE = pytest.mark.qt_log_ignore(r"This plugin does not support raise\(\)",
                                        OFFSCREEN_NOISE)

CURRENCIES = ("EUR", "USD", None)


def acme_events(n, start=0, day=1):
    out = []
    for i in range(start, start + n):
        e = {"client": "Acme", "amount": f"{i}.{i % 10}5", "event_id": f"a{i}",
             "timestamp": f"2024-03-{day + i % 20:02d}T10:00:00Z", "note": f"n{i}"}
        if CURRENCIES[i % 3]:
            e["currency"] = CURRENCIES[i % 3]
        out.append(e)
    return out


def others(n=12):
    return [{"client": f"Client {i:02d}", "amount": f"{100 + i}.5", "currency": "EUR"}
            for i in range(n)]


def ingest(qtbot, w, events):
    s = send(qtbot, w, "\n".join(json.dumps(e) for e in events))
    assert s.accepted == len(events), s


def row_of(w, client, currency):
    rows = w.clients.model.rows()
    return next(i for i, r in enumerate(rows) if r.client == client and r.currency == currency)


def click_row(qtbot, w, row):
    table = w.clients.table
    table.scrollTo(w.clients.model.index(row, 0))
    rect = table.visualRect(w.clients.model.index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def settled(panel):
    """The panel's reads are done and its header shows a count."""
    return lambda: not panel.model.busy and isinstance(panel.model.view_count, DrillCount) \
        and panel.model.view_count.total > 0


def table_sums(w, client):
    return {(r.currency, r.count, r.total) for r in w.clients.model.all_rows()
            if r.client == client}


@RAISE_NOISE
def test_a_click_on_a_client_row_opens_its_events_with_the_rows_totals(qtbot, window):
    ingest(qtbot, window, acme_events(90) + others())
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 15)
    click_row(qtbot, window, row_of(window, "Acme", "USD"))
    dialog = window.drilldown_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    panel = dialog.panel
    qtbot.waitUntil(settled(panel))
    # the clicked row's currency is preselected: count and total are that row's
    usd = next(r for r in window.clients.model.rows() if (r.client, r.currency) == ("Acme", "USD"))
    count = panel.model.view_count
    assert count.matching == usd.count == 30 and count.total == 90
    assert [(s.currency, s.count, s.total) for s in count.sums] == [("USD", 30, usd.total)]
    assert panel.title.text() == "Acme — 30 of 90 events match the filters"
    assert panel.sums_label.text() == f"Total: USD {format_money(usd.total)} in 30 events"
    assert {e.currency for e in panel.model.rows()} == {"USD"}
    ids = [e.id for e in panel.model.rows()]
    assert ids == sorted(ids, reverse=True)  # newest first

    # every currency: the header equals the client's rows in the Clients table, per currency
    panel.currency_box.setCurrentIndex(panel.currency_box.findData(ANY))
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 90)
    sums = {(s.currency, s.count, s.total) for s in panel.model.view_count.sums}
    assert sums == table_sums(window, "Acme") and len(sums) == 3
    assert panel.title.text() == "Acme — 90 events"
    assert all(isinstance(s.total, Decimal) for s in panel.model.view_count.sums)
    assert panel.sums_label.text() == "Total: " + sums_text(panel.model.view_count.sums)

    # another row retargets the same window
    click_row(qtbot, window, row_of(window, "Client 03", "EUR"))
    assert window.drilldown_dialog is dialog
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.total == 1)
    assert [(e.amount, e.currency) for e in panel.model.rows()] == [("103.5", "EUR")]
    assert dialog.windowTitle() == "Client events — Client 03"
    # its reads run on a thread of their own, which stops with the window
    threads = dialog.reads.threads()
    assert threads and threads[0].isRunning()
    window.close()
    assert not any(t.isRunning() for t in threads)


def test_a_click_on_a_bar_opens_that_clients_events(qtbot, window):
    ingest(qtbot, window, acme_events(30) + others(5))
    chart = window.totals_chart
    chart.currency.setCurrentIndex(chart.currency.findData("EUR"))
    qtbot.waitUntil(lambda: len(chart.shown) == 6)
    i = next(n for n, bar in enumerate(chart.shown) if bar.row.client == "Client 02")
    vb = chart.plot.getPlotItem().vb
    scene = vb.mapViewToScene(QPointF(float(chart.shown[i].value) / 2, float(i)))
    pos = chart.plot.mapFromScene(scene)
    with qtbot.waitSignal(chart.barClicked) as blocker:
        qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == ["Client 02", "EUR"]
    panel = window.drilldown_dialog.panel
    qtbot.waitUntil(settled(panel))
    assert [(e.amount, e.currency) for e in panel.model.rows()] == [("102.5", "EUR")]
    assert panel.title.text().startswith("Client 02 — 1 of 1 event")


def test_filters_select_and_the_header_follows_them(qtbot, window):
    ingest(qtbot, window, acme_events(60))
    ingest(qtbot, window, [{"client": "ACME", "amount": "0.01", "currency": "EUR",
                            "timestamp": "2024-05-01T00:00:00Z", "tag": "Needle"}])
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 3)
    dialog = window.open_drilldown("Acme")
    panel = dialog.panel
    qtbot.waitUntil(lambda: settled(panel)() and panel.model.view_count.matching == 61)

    def shown():
        qtbot.waitUntil(lambda: not panel.model.busy)
        return panel.model.view_count

    panel.filter.setText("needle")  # the raw text, whatever its case
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 1)
    assert [(e.amount, e.event_time[:10]) for e in panel.model.rows()] == [("0.01", "2024-05-01")]
    assert panel.title.text() == "Acme — 1 of 61 events match the filters"
    panel.filter.clear()

    qtbot.keyClicks(panel.time_from, "2024-03-05")
    qtbot.keyClick(panel.time_from, Qt.Key.Key_Return)
    qtbot.keyClicks(panel.time_to, "2024-03-06")
    qtbot.keyClick(panel.time_to, Qt.Key.Key_Return)  # a date ends at the end of its day
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 6)
    assert {e.event_time[:10] for e in panel.model.rows()} == {"2024-03-05", "2024-03-06"}
    expected = {}
    for e in acme_events(60):
        if e["timestamp"][:10] in ("2024-03-05", "2024-03-06"):
            n, t = expected.get(e.get("currency"), (0, Decimal(0)))
            expected[e.get("currency")] = (n + 1, t + Decimal(e["amount"]))
    assert {s.currency: (s.count, s.total) for s in shown().sums} == expected

    panel.currency_box.setCurrentIndex(panel.currency_box.findData(""))  # no currency
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 2)
    assert {e.currency for e in panel.model.rows()} == {None}
    assert [s.currency for s in shown().sums] == [None]

    panel.time_to.setText("someday")
    qtbot.keyClick(panel.time_to, Qt.Key.Key_Return)
    assert panel.problem.isVisible()
    assert panel.problem.text().startswith("To: 'someday' is not a time")
    panel.clear_button.click()
    assert not panel.problem.isVisible()
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 61)
    # "ACME" groups with "Acme": the table's row and the header count it alike
    qtbot.waitUntil(lambda: ("EUR", 21, Decimal("580.01")) in table_sums(window, "Acme"))
    assert {(s.currency, s.count, s.total) for s in shown().sums} == table_sums(window, "Acme")


def test_paging_reaches_every_event_newest_first(qtbot, window):
    n = PAGE_SIZE * 2 + 37
    ingest(qtbot, window, acme_events(n))
    qtbot.waitUntil(lambda: sum(r.count for r in window.clients.model.rows()) == n)
    panel = window.open_drilldown("Acme").panel
    qtbot.waitUntil(settled(panel))
    assert panel.model.rowCount() == PAGE_SIZE
    assert panel.summary.text() == f"{PAGE_SIZE} of {n} shown, newest first (scroll for more)"
    bar = panel.table.verticalScrollBar()

    def everything():
        if panel.model.rowCount() < n:
            bar.setValue(bar.maximum())
        return panel.model.rowCount() == n
    qtbot.waitUntil(everything, timeout=60_000)
    ids = [e.id for e in panel.model.rows()]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == n
    assert panel.summary.text() == f"{n} shown, newest first"
    # sorted by event time instead: newest event time first, over every row
    header = panel.table.horizontalHeader()
    header.setSortIndicator(1, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.sort_name == "event_time")
    times = [(e.event_time, e.id) for e in panel.model.rows()]
    assert times == sorted(times, reverse=True)


def test_the_drill_down_follows_new_events(qtbot, window):
    ingest(qtbot, window, acme_events(9))
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 3)
    panel = window.open_drilldown("Acme").panel
    qtbot.waitUntil(lambda: settled(panel)() and panel.model.view_count.matching == 9)
    ingest(qtbot, window, acme_events(6, start=9))
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 15,
                    timeout=20_000)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 15)
    qtbot.waitUntil(lambda: {(s.currency, s.count, s.total) for s in panel.model.view_count.sums}
                    == table_sums(window, "Acme"))
    assert panel.model.rows()[0].amount == "14.45"  # the newest on top


def test_double_click_or_enter_on_an_event_asks_for_its_explanation(qtbot, window):
    ingest(qtbot, window, acme_events(5))
    panel = window.open_drilldown("Acme").panel
    qtbot.waitUntil(lambda: settled(panel)() and panel.model.rowCount() == 5)
    table = panel.table
    rect = table.visualRect(panel.model.index(2, 0))
    with qtbot.waitSignal(panel.explain_requested) as blocker:
        qtbot.mousePress(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseRelease(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [panel.model.row(2).id]
    table.selectRow(4)
    table.setFocus()
    with qtbot.waitSignal(panel.explain_requested) as blocker:
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert blocker.args == [panel.model.row(4).id]
    # the Explain panel explains it
    qtbot.waitUntil(lambda: window.explain_panel.current is not None
                    and window.explain_panel.current.event_id == panel.model.row(4).id)


def test_the_search_box_filters_clients_by_name(qtbot, window):
    ingest(qtbot, window, acme_events(6) + others(12)
           + [{"client": "ACME Holdings", "amount": "1", "currency": "EUR"}])
    view = window.clients
    qtbot.waitUntil(lambda: len(view.model.rows()) == 16)
    assert view.summary.text() == "14 clients, 16 client/currency rows, 19 events"
    qtbot.keyClicks(view.search, "aCMe")
    assert {r.client for r in view.model.rows()} == {"Acme", "ACME Holdings"}
    assert view.summary.text() == "2 of 14 clients, 4 client/currency rows, 7 events"
    # live totals keep the search
    ingest(qtbot, window, [{"client": "Client 01", "amount": "2", "currency": "EUR"},
                           {"client": "acme", "amount": "3", "currency": "EUR"}])
    qtbot.waitUntil(lambda: view.summary.text()
                    == "2 of 14 clients, 4 client/currency rows, 8 events")
    assert totals(window)[("Acme", "EUR")][0] == 3
    view.search.clear()
    assert len(view.model.rows()) == 16
    assert view.summary.text() == "14 clients, 16 client/currency rows, 21 events"
    view.search.setText("zzz")
    assert view.model.rowCount() == 0
    assert view.summary.text() == "0 of 14 clients, 0 client/currency rows, 0 events"


def test_the_import_filter_lists_the_clients_imports(qtbot, window):
    ingest(qtbot, window, acme_events(4))
    ingest(qtbot, window, acme_events(2, start=4) + others(2))
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 5)
    panel = window.open_drilldown("Acme").panel
    qtbot.waitUntil(lambda: settled(panel)() and panel.import_box.count() == 3)
    imports = [i for i in window.service.imports() if i.kind == "paste"]
    first, second = imports[0].id, imports[1].id
    assert [panel.import_box.itemData(i) for i in range(3)] == [None, second, first]
    assert panel.import_box.itemText(2).startswith(f"#{first} pasted (paste, ")
    assert panel.import_box.itemText(2).endswith(" · 4 events")
    panel.import_box.setCurrentIndex(1)
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 2)
    assert {e.import_id for e in panel.model.rows()} == {second}
    assert [panel.model.data(panel.model.index(r, 5)) for r in range(2)] == [f"#{second}"] * 2
    assert panel.title.text() == "Acme — 2 of 6 events match the filters"


@RAISE_NOISE
def test_an_undone_import_leaves_the_drill_down_and_the_history(qtbot, window):
    ingest(qtbot, window, acme_events(6))
    ingest(qtbot, window, acme_events(3, start=6))
    qtbot.waitUntil(lambda: sum(r.count for r in window.clients.model.rows()) == 9)
    panel = window.open_drilldown("Acme").panel
    chart = window.open_history(["Acme"]).chart
    qtbot.waitUntil(lambda: settled(panel)() and panel.model.view_count.matching == 9)
    qtbot.waitUntil(lambda: sum(d.count for d in chart.lines.values()) == 9)
    first = min(i.id for i in window.service.imports() if i.kind == "paste")
    window.service.undo_import(first)
    window.bridge.refresh()
    qtbot.waitUntil(lambda: not panel.model.busy and panel.model.view_count.matching == 3,
                    timeout=20_000)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3)
    qtbot.waitUntil(lambda: {(s.currency, s.count, s.total) for s in panel.model.view_count.sums}
                    == table_sums(window, "Acme"))
    qtbot.waitUntil(lambda: sum(d.count for d in chart.lines.values()) == 3, timeout=20_000)
    left = acme_events(3, start=6)
    for d in chart.lines.values():
        assert d.exact[-1] == sum((Decimal(e["amount"]) for e in left
                                   if e.get("currency") == d.currency), Decimal(0))
