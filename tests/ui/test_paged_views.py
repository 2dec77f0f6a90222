"""The Pending and Quarantine views page over the database: true counts (never capped), newest
first, every row reachable by scrolling, sorting and filtering over every row, and the user's
place kept while entries arrive."""
import os

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractItemView

from faultsim_desktop.core.faults import FaultMode, FaultPoint
from faultsim_desktop.ui.paged import PAGE_SIZE

from .helpers import assert_nothing_running, open_window



def bad_lines(n, client="c", start=0):
    return "\n".join('{"client": "%s%d", "amount": "bad%d"}' % (client, i % 7, i)
                     for i in range(start, start + n))


def show(window, name):
    window.docks[name].show()
    window.docks[name].raise_()
    panel = window.pending_panel if name == "pending" else window.quarantine_panel
    return panel, panel.model


def settled(model, condition):
    return lambda: not model.busy and condition()


def scroll_to_the_end(qtbot, panel, total):
    """Drag the scroll bar to its end until the view has fetched every row."""
    bar = panel.table.verticalScrollBar()

    def everything_fetched():
        if panel.model.rowCount() < total:
            bar.setValue(bar.maximum())
        return panel.model.rowCount() == total
    qtbot.waitUntil(everything_fetched, timeout=120_000)
    assert not panel.model.canFetchMore()


def click_header(qtbot, panel, column):
    header = panel.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, header.height() // 2))


def test_twenty_thousand_pending_events(qtbot, window):
    window.fault_panel.set_fault(FaultPoint.BEFORE_WRITE, FaultMode.ALWAYS)
    window.crash_button.click()
    events = ['{"client": "%s", "amount": %d, "currency": "EUR"}'
              % ("early" if i < 100 else f"c{i % 9}", i) for i in range(20_000)]
    svc = window.service
    assert svc.submit_text("\n".join(events[:100]), source="a-file").wait(60).failed == 100
    assert svc.submit_text("\n".join(events[100:]), source="z-file").wait(300).failed == 19_900
    panel, model = show(window, "pending")
    qtbot.waitUntil(lambda: panel.summary.text().startswith("20,000 events waiting:"),
                    timeout=20_000)
    qtbot.waitUntil(lambda: "pending 20,000" in window.counters_label.text())
    assert model.rowCount() == PAGE_SIZE  # a page, not every row, until the user scrolls
    assert model.row(0).raw == events[-1]  # newest first

    scroll_to_the_end(qtbot, panel, 20_000)
    assert model.row(19_999).raw == events[0]  # the oldest is reached
    assert [model.row(i).id for i in range(20_000)] == sorted(
        (model.row(i).id for i in range(20_000)), reverse=True)

    # a click on Source sorts every waiting event, not only the fetched ones
    panel.table.scrollToTop()
    click_header(qtbot, panel, 1)
    qtbot.waitUntil(settled(model, lambda: model.row(0).source == "a-file"))
    assert (model.row(0).line, model.row(1).line) == (1, 2)
    assert model.rowCount() == PAGE_SIZE and panel.summary.text().startswith("20,000 events")
    click_header(qtbot, panel, 1)
    qtbot.waitUntil(settled(model, lambda: model.row(0).source == "z-file"))
    assert model.row(0).line == 19_900
    click_header(qtbot, panel, 0)  # back to newest first
    qtbot.waitUntil(settled(model, lambda: model.row(0).raw == events[-1]))

    qtbot.keyClicks(panel.filter, "EARLY")
    qtbot.waitUntil(lambda: panel.summary.text() == "100 of 20,000 waiting events match")
    qtbot.waitUntil(settled(model, lambda: model.rowCount() == 100))
    assert [model.row(i).raw for i in range(100)] == events[:100][::-1]
    assert not model.canFetchMore()
    panel.filter.clear()
    qtbot.waitUntil(lambda: panel.summary.text().startswith("20,000 events waiting:"))

    # Retry now still sends every waiting event, not the first 1,000
    svc.faults.enabled = False
    with qtbot.waitSignal(window.bridge.retryFinished, timeout=300_000) as blocker:
        panel.retry_button.click()
    assert blocker.args[0].accepted == 20_000
    qtbot.waitUntil(lambda: panel.summary.text() == "0 events waiting: nothing is waiting.",
                    timeout=20_000)
    qtbot.waitUntil(lambda: model.rowCount() == 0)
    assert not panel.retry_button.isEnabled()


def test_three_thousand_and_nineteen_open_quarantine_entries(qtbot, window):
    quarantine_tour(qtbot, window)


@pytest.mark.postgresql
def test_three_thousand_and_nineteen_open_quarantine_entries_on_postgresql(
        qtbot, pg_db, settings):
    window = open_window(qtbot, pg_db, settings)
    try:
        quarantine_tour(qtbot, window)
    finally:
        window.close()
    assert_nothing_running(window)


def quarantine_tour(qtbot, window):
    text = bad_lines(3007) + "\n" + bad_lines(12, client="Zed", start=5000)
    assert window.service.submit_text(text, source="bad.ndjson").wait(120).rejected == 3019
    panel, model = show(window, "quarantine")
    qtbot.waitUntil(lambda: panel.summary.text().startswith("3,019 open entries —"),
                    timeout=20_000)
    assert model.row(0).line == 3019  # newest first
    scroll_to_the_end(qtbot, panel, 3019)
    assert model.row(3018).line == 1

    everything = window.service.quarantine(None, limit=10_000)
    panel.table.scrollToTop()
    click_header(qtbot, panel, 1)  # Reason, over every entry
    first = min(everything, key=lambda e: (e.reason, e.id))
    qtbot.waitUntil(settled(model, lambda: model.row(0).id == first.id))
    click_header(qtbot, panel, 6)  # Raw does not sort: nothing changes
    assert panel.table.horizontalHeader().sortIndicatorSection() == 1
    assert not model.busy and model.row(0).id == first.id
    click_header(qtbot, panel, 0)
    qtbot.waitUntil(settled(model, lambda: model.row(0).line == 3019))

    qtbot.keyClicks(panel.filter, "zed")
    qtbot.waitUntil(lambda: panel.summary.text() == "12 of 3,019 open entries match")
    qtbot.waitUntil(settled(model, lambda: model.rowCount() == 12))
    assert all('"Zed' in model.row(i).raw for i in range(12))

    # the actions work on the selected row: open it in the editor, fix it, resubmit
    panel.table.selectRow(3)
    entry = model.row(3)
    panel.open_button.click()
    assert window.editor.fixing == entry.id
    window.editor.set_text(entry.raw.replace('"bad', '"1'))
    with qtbot.waitSignal(window.bridge.resubmitFinished, timeout=20_000) as blocker:
        window.editor.resubmit_button.click()
    assert blocker.args[0] == entry.id
    qtbot.waitUntil(lambda: panel.summary.text() == "11 of 3,018 open entries match")
    qtbot.waitUntil(lambda: model.row_of(entry.id) < 0)

    panel.set_status("resolved")
    qtbot.waitUntil(lambda: panel.summary.text() == "1 of 1 resolved entry matches")
    panel.filter.clear()
    panel.set_status(None)
    qtbot.waitUntil(lambda: panel.summary.text() == "3,019 entries")
    assert not panel.table.isColumnHidden(5)  # every status shows: so does the Status column
    qtbot.waitUntil(settled(model, lambda: model.row_of(entry.id) >= 0))
    assert model.row(model.row_of(entry.id)).status == "resolved"


def test_new_entries_keep_the_users_place_and_show_at_the_top(qtbot, qtmodeltester, window):
    window.service.submit_text(bad_lines(500), source="first").wait(60)
    panel, model = show(window, "quarantine")
    qtmodeltester.check(model)  # Qt's model tester watches every change that follows
    qtbot.waitUntil(lambda: panel.summary.text().startswith("500 open entries"))
    # scrolled down, a row selected: new entries above change neither
    panel.table.scrollTo(model.index(100, 0), QAbstractItemView.ScrollHint.PositionAtTop)
    qtbot.waitUntil(lambda: panel.table.rowAt(0) == 100)
    panel.table.selectRow(120)
    top, chosen = model.row(panel.table.rowAt(0)).id, model.row(120).id
    window.service.submit_text(bad_lines(30, start=1000), source="second").wait(60)
    qtbot.waitUntil(lambda: panel.summary.text().startswith("530 open entries"))
    qtbot.waitUntil(settled(model, lambda: model.row(0).source == "second"))
    assert model.row(panel.table.rowAt(0)).id == top
    assert panel.selected().id == chosen
    # back at the top, with nothing selected, new entries show as they arrive
    panel.table.clearSelection()
    panel.table.scrollToTop()
    window.service.submit_text('{"client": "newest", "amount": "oops"}').wait(30)
    qtbot.waitUntil(settled(model, lambda: "newest" in model.row(0).raw))
    assert panel.table.rowAt(0) == 0


def test_a_burst_of_twenty_thousand_rejects_reads_only_what_is_seen(qtbot, window):
    panel, model = show(window, "quarantine")
    svc = window.service
    asked = []  # how many rows each read of the view asked for
    page = svc.quarantine_page

    def counted(status, query):
        asked.append(query.limit)
        return page(status, query)
    svc.quarantine_page = counted
    assert svc.submit_text(bad_lines(20_000), source="burst").wait(300).rejected == 20_000
    qtbot.waitUntil(lambda: panel.summary.text().startswith("20,000 open entries"),
                    timeout=20_000)
    qtbot.waitUntil(lambda: not model.busy)
    # while the rejects arrived the view re-read its first page, never every entry
    assert asked and max(asked) == PAGE_SIZE
    assert model.rowCount() == PAGE_SIZE and model.row(0).line == 20_000


def test_a_view_says_when_it_cannot_read_and_catches_up_when_the_database_is_back(
        qtbot, window, db_path):
    from .test_storage_faults import fails_and_waits

    window.service.submit_text(bad_lines(3), source="bad").wait(30)
    panel, model = show(window, "quarantine")
    qtbot.waitUntil(lambda: panel.summary.text().startswith("3 open entries"))
    os.unlink(db_path)
    fails_and_waits(qtbot, window, db_path, "deleted or moved away")
    qtbot.keyClicks(panel.filter, "C1")  # a new filter while the database is away
    qtbot.waitUntil(lambda: panel.summary.text().startswith("Could not read the database: ")
                    and "deleted or moved away" in panel.summary.text())
    assert model.rowCount() == 3  # what it showed stays until it can read again
    [copy] = db_path.parent.glob("test.rescued-*.db")
    os.replace(copy, db_path)  # the user puts it back
    qtbot.waitUntil(lambda: panel.summary.text() == "1 of 3 open entries matches",
                    timeout=10_000)
    qtbot.waitUntil(settled(model, lambda: model.rowCount() == 1))
    assert '"c1"' in model.row(0).raw


def test_a_row_whose_sort_value_changes_moves_and_stays_selected(qtbot, qtmodeltester,
                                                                 window):
    window.service.submit_text(bad_lines(50), source="first").wait(30)
    panel, model = show(window, "quarantine")
    qtmodeltester.check(model)  # Qt's model tester watches every change that follows
    qtbot.waitUntil(lambda: panel.summary.text().startswith("50 open entries"))
    click_header(qtbot, panel, 3)  # Seen: the most often seen first
    qtbot.waitUntil(lambda: not model.busy and model.sort_name == "times_seen")
    panel.table.selectRow(40)
    entry = model.row(40)
    window.service.submit_text(entry.raw, source="again").wait(30)  # seen a second time
    qtbot.waitUntil(settled(model, lambda: model.row(0).id == entry.id))
    assert model.row(0).times_seen == 2 and model.rowCount() == 50
    assert panel.selected_row() == 0 and panel.selected().id == entry.id
