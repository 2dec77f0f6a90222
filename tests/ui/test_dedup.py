"""Send again: a retry is caught as a duplicate and the totals do not change."""
from decimal import Decimal

from faultsim_desktop.core.model import Outcome

from .helpers import send, totals


def test_send_again_yields_duplicates_and_unchanged_totals(qtbot, window):
    first = send(qtbot, window, '{"client": "acme", "amount": 10, "currency": "USD"}\n'
                                '{"amount": 5, "client": "beta", "currency": "USD"}')
    assert first.accepted == 2
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 2)
    before = totals(window)

    assert window.send_again_action.isEnabled()
    with qtbot.waitSignal(window.bridge.textFinished, timeout=20_000) as blocker:
        window.send_again_action.trigger()
    again = blocker.args[0]
    assert (again.accepted, again.duplicates) == (0, 2)
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == 4)
    outcomes = [r.outcome for r in window.log_view.model.rows()]
    assert outcomes[2:] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    qtbot.waitUntil(lambda: "duplicates 2" in window.counters_label.text())
    assert totals(window) == before == {("acme", "USD"): (1, Decimal(10)),
                                        ("beta", "USD"): (1, Decimal(5))}


def test_reordered_keys_are_the_same_event(qtbot, window):
    s = send(qtbot, window, '{"client": "a", "amount": 1, "event_id": "x"}\n'
                            '{"event_id": "x", "amount": 1, "client": "a"}')
    assert (s.accepted, s.duplicates) == (1, 1)
