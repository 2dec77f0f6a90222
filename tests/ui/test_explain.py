"""The Explain panel, driven as a user would: from the live log (double-click, context menu),
from the quarantine, and its links back to the log rows of the copies."""
import pytest
from PySide6.QtCore import Qt

from faultsim_desktop.core.model import Outcome

from .conftest import _OFFSCREEN_NOISE
from .helpers import send

# a popup menu makes the offscreen plugin (not our code) say it cannot raise it or grab keys
MENU_NOISE = pytest.mark.qt_log_ignore(
    r"This plugin does not support (raise\(\)|grabbing the keyboard)", _OFFSCREEN_NOISE)

FIRST = '{"Client-ID": "Acme GmbH", "amount": "1.234,56 €", "ts": 1700000000, "event_id": "inv-1"}'
RETRY = '{"amount": "1.234,56 €", "Client-ID": "Acme GmbH", "ts": 1700000000, "event_id": "inv-1"}'
CONFLICT = '{"Client-ID": "Acme GmbH", "amount": "99", "event_id": "inv-1"}'


def _log_row(w, outcome: Outcome) -> int:
    model = w.log_view.model
    return next(i for i in range(model.rowCount()) if model.record(i).outcome is outcome)


def _double_click(qtbot, table, row: int) -> None:
    table.scrollTo(table.model().index(row, 0))
    rect = table.visualRect(table.model().index(row, 2))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _context_action(qtbot, w, row: int, text: str):
    view = w.log_view
    table = view.table
    table.scrollTo(view.model.index(row, 0))
    pos = table.visualRect(view.model.index(row, 2)).center()
    table.customContextMenuRequested.emit(pos)
    menu = view.context_menu
    assert menu is not None and menu.isVisible()
    actions = {a.text(): a for a in menu.actions() if not a.isSeparator()}
    assert text in actions, list(actions)
    menu.hide()
    return actions[text], actions


def _shown(qtbot, panel, **want):
    def ok():
        exp = panel.current
        return exp is not None and all(getattr(exp, k) == v for k, v in want.items())
    qtbot.waitUntil(ok, timeout=10_000)
    return panel.current


def _cells(table, row: int) -> list[str]:
    return [table.item(row, c).text() for c in range(table.columnCount())]


def _three_arrivals(qtbot, w):
    assert send(qtbot, w, FIRST).accepted == 1
    assert send(qtbot, w, RETRY).duplicates == 1
    assert send(qtbot, w, CONFLICT).rejected == 1
    qtbot.waitUntil(lambda: w.log_view.model.rowCount() == 3)


def test_double_click_in_the_log_explains_the_event(qtbot, window):
    _three_arrivals(qtbot, window)
    panel = window.explain_panel
    _double_click(qtbot, window.log_view.table, _log_row(window, Outcome.ACCEPTED))
    exp = _shown(qtbot, panel, event_id=1)
    assert window.docks["explain"].isVisible() and panel.isVisible()
    assert panel.title.text() == "Event #1: Acme GmbH, 1234.56 EUR"
    assert f"import #{exp.import_['id']} ({exp.import_['kind']})" in panel.subtitle.text()
    roles = {panel.fields.item(r, 0).text(): _cells(panel.fields, r) for r in range(5)}
    assert roles["client"][1:3] == ["Client-ID", '"Acme GmbH"']
    assert 'read as "client_id"' in roles["client"][3]
    assert roles["amount"][1:3] == ["amount", '"1.234,56 €"']
    assert roles["time"][1:3] == ["ts", "1700000000"]
    assert "whole epoch seconds" in roles["time"][3]
    assert roles["key"][1:3] == ["event_id", '"inv-1"']
    assert panel.reading.text() == ('Amount read: "1.234,56 €" → 1234.56 EUR: both separators: '
                                    'the last, ",", is the decimal mark; "." groups digits; '
                                    'currency from the sign "€"')
    assert panel.raw.toPlainText() == FIRST
    assert exp.fingerprint in panel.canonical.toPlainText()
    assert panel.tabs.tabText(2) == "Copies (2)"
    assert [_cells(panel.copies, r)[0] for r in range(2)] == ["duplicate", "key conflict"]


@MENU_NOISE
def test_a_duplicate_goes_to_its_event_and_the_copies_lead_back(qtbot, window):
    _three_arrivals(qtbot, window)
    view, panel = window.log_view, window.explain_panel
    duplicate = _log_row(window, Outcome.DUPLICATE)
    view.table.selectRow(duplicate)
    action, actions = _context_action(qtbot, window, duplicate, "Go to event #1")
    assert "Explain event #1" in actions and "Details…" in actions
    action.trigger()
    accepted = view.model.record(view.table.selectionModel().selectedRows()[0].row())
    assert accepted.outcome is Outcome.ACCEPTED and accepted.event_id == 1
    assert not view.follow.isChecked()  # paused, so the selected row stays where it is
    _shown(qtbot, panel, event_id=1)
    back, _ = _context_action(qtbot, window, view.table.selectionModel().selectedRows()[0].row(),
                              "Back")
    back.trigger()
    assert view.model.record(view.table.selectionModel().selectedRows()[0].row()).outcome \
        is Outcome.DUPLICATE

    # from the panel's copies back to each copy's row in the log
    panel.tabs.setCurrentIndex(2)
    for row, outcome in ((1, Outcome.REJECTED), (0, Outcome.DUPLICATE)):
        panel.copies.selectRow(row)
        assert panel.show_copy_button.isEnabled()
        panel.show_copy_button.click()
        selected = view.model.record(view.table.selectionModel().selectedRows()[0].row())
        assert selected.outcome is outcome and selected.event_id == 1
    panel.show_event_button.click()
    selected = view.model.record(view.table.selectionModel().selectedRows()[0].row())
    assert selected.outcome is Outcome.ACCEPTED


def test_a_key_conflict_explains_its_input_and_links_to_the_event_it_lost_to(qtbot, window):
    _three_arrivals(qtbot, window)
    panel = window.explain_panel
    _double_click(qtbot, window.log_view.table, _log_row(window, Outcome.REJECTED))
    exp = _shown(qtbot, panel, matched_event=1)
    assert exp.quarantine_id is not None
    assert panel.title.text() == f"Quarantine entry #{exp.quarantine_id}: rejected when stored"
    assert panel.problem.isVisible() and "idempotency_conflict" in panel.problem.text()
    assert _cells(panel.fields, 1)[1:3] == ["amount", '"99"']
    assert not panel.tabs.isTabVisible(2)  # an input that was not stored has no copies
    assert panel.go_event_button.isVisible()
    assert panel.go_event_button.text() == "Go to event #1"
    panel.go_event_button.click()
    _shown(qtbot, panel, event_id=1)
    selected = window.log_view.model.record(
        window.log_view.table.selectionModel().selectedRows()[0].row())
    assert selected.outcome is Outcome.ACCEPTED and selected.event_id == 1
    panel.back_button.click()  # Back returns to the conflict's explanation
    _shown(qtbot, panel, quarantine_id=exp.quarantine_id)
    assert panel.forward_button.isEnabled()


def test_the_quarantine_explains_a_rejected_input(qtbot, window):
    assert send(qtbot, window, '{"client": "initech", "amount": "twelve", "ts": 5}',
                anyway=True).rejected == 1
    q = window.quarantine_panel
    qtbot.waitUntil(lambda: q.model.rowCount() == 1)
    q.table.selectRow(0)
    q.explain_button.click()
    panel = window.explain_panel
    exp = _shown(qtbot, panel, quarantine_id=q.model.row(0).id)
    assert panel.title.text().endswith("rejected by normalization")
    assert "bad_amount" in panel.problem.text() and "twelve" in panel.problem.text()
    assert _cells(panel.fields, 0)[1:3] == ["client", '"initech"']
    assert _cells(panel.fields, 1)[1:3] == ["amount", '"twelve"']
    assert _cells(panel.fields, 3)[3] == "not reached: normalization stopped before it"
    assert exp.canonical in panel.canonical.toPlainText()


def test_a_line_that_is_not_json_is_explained_with_its_line_and_column(qtbot, window):
    assert send(qtbot, window, '{"client": "a", "amount": 1}\n{"client": "b", "amount": }',
                anyway=True).rejected == 1
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == 2)
    _double_click(qtbot, window.log_view.table, _log_row(window, Outcome.REJECTED))
    panel = window.explain_panel
    exp = _shown(qtbot, panel, quarantine_id=1)
    assert panel.title.text() == "Quarantine entry #1: not valid JSON"
    assert exp.rejection["line"] == 2 and exp.rejection["column"] is not None
    assert f"(line 2, column {exp.rejection['column']})" in panel.problem.text()
    assert all(_cells(panel.fields, r)[1] == "—" for r in range(5))


def test_view_explain_event_takes_an_id(qtbot, window):
    assert send(qtbot, window, FIRST).accepted == 1
    window.explain_action.trigger()
    panel = window.explain_panel
    assert window.docks["explain"].isVisible()
    qtbot.waitUntil(lambda: panel.id_box.hasFocus())
    panel.id_box.clear()
    qtbot.keyClicks(panel.id_box, "1")
    qtbot.keyClick(panel.id_box, Qt.Key.Key_Return)
    _shown(qtbot, panel, event_id=1)
    panel.id_box.clear()
    qtbot.keyClicks(panel.id_box, "42")
    panel.explain_button.click()
    qtbot.waitUntil(lambda: panel.title.text() == "There is no event #42")
    assert panel.current is None and panel.problem.isVisible()


def test_the_drill_down_entry_point_and_a_new_database(qtbot, window, tmp_path):
    assert send(qtbot, window, FIRST).accepted == 1
    panel = window.explain_panel
    window.docks["clients"].raise_()
    panel.show_event(1)  # what the drill-down calls
    _shown(qtbot, panel, event_id=1)
    assert not window.docks["explain"].visibleRegion().isEmpty()  # raised above Clients
    assert window.switch_database(tmp_path / "other.db")
    qtbot.waitUntil(lambda: panel.current is None)
    assert not panel.back_button.isEnabled()
