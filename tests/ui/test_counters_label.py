"""The status bar's counters count what this window sent. Opened on a database that already
holds events, they start at 0 beside the Clients panel's totals of the whole database, and
say whose counts they are ("this window: ..."), so that the two never seem to contradict."""
import json
from decimal import Decimal

from faultsim_desktop.core.service import IngestService

from .helpers import send, totals


def earlier_events(db_path, n=5):
    with IngestService(db_path, workers=0) as svc:
        s = svc.submit_text("\n".join(json.dumps({"client": "Earlier", "amount": f"{i}.50"})
                                      for i in range(n))).wait(30)
        assert s.accepted == n


def test_a_database_with_events_gets_counters_that_say_they_are_this_windows(
        qtbot, make_window, db_path):
    earlier_events(db_path)
    window = make_window()
    label = window.counters_label
    qtbot.waitUntil(lambda: totals(window) == {("Earlier", None): (5, Decimal("12.50"))})
    qtbot.waitUntil(lambda: label.text().startswith("this window: accepted 0 · "))
    s = send(qtbot, window, '{"client": "Now", "amount": "2"}\n{"client": "Now", "amount": "3"}')
    assert s.accepted == 2
    qtbot.waitUntil(lambda: label.text().startswith("this window: accepted 2 · duplicates 0 "))
    # the Clients panel: the database's totals, read once the send is committed
    qtbot.waitUntil(lambda: sum(count for count, _ in totals(window).values()) == 7)
    assert label.text().startswith("this window: accepted 2 · ")

    # emptied from this window: its counts are the database's again
    with qtbot.waitSignal(window.bridge.resetFinished, timeout=20_000):
        window.bridge.reset_database()
    qtbot.waitUntil(lambda: label.text().startswith("accepted 0 · "))
    send(qtbot, window, '{"client": "After", "amount": "1"}')
    qtbot.waitUntil(lambda: label.text().startswith("accepted 1 · "))
    qtbot.waitUntil(lambda: totals(window) == {("After", None): (1, 1)})
    assert label.text().startswith("accepted 1 · ")


def test_a_new_database_has_plain_counters(qtbot, window):
    label = window.counters_label
    qtbot.waitUntil(lambda: window.bridge.settled())
    s = send(qtbot, window, '{"client": "A", "amount": "1.25"}\n{"client": "A", "amount": "1.25"}')
    assert (s.accepted, s.duplicates) == (1, 1)
    qtbot.waitUntil(lambda: label.text().startswith("accepted 1 · duplicates 1 · "))
    # the database's totals read with nothing of this window's under way: they hold
    # nothing it did not count, and the next tick's label says so
    qtbot.waitUntil(lambda: window.bridge.settled() and bool(totals(window))
                    and window.bridge._others is not None)
    assert not window.bridge.counters().others
    qtbot.waitUntil(lambda: window.bridge.settled())
    ticks = window.bridge._ticks
    qtbot.waitUntil(lambda: window.bridge._ticks > ticks + 1)
    assert label.text().startswith("accepted 1 · duplicates 1 · ")
