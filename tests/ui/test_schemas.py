"""The Client schemas dialog: edit a mapping, preview sample events under it, save a version;
events sent afterwards use it, and the clients table, the log and the event dialog show it."""
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.schemas import new_mapping

from .helpers import send, totals


def cell(model, row, column):
    if row >= model.rowCount():
        return None
    return model.data(model.index(row, column), Qt.ItemDataRole.DisplayRole)


def preview_rows(dialog):
    m = dialog.preview_model
    return [tuple(cell(m, r, c) for c in range(m.columnCount())) for r in range(m.rowCount())]


def wait_preview(qtbot, dialog, rows):
    dialog.preview_now()
    qtbot.waitUntil(lambda: dialog.preview_is_current and dialog.preview_model.rowCount() == rows,
                    timeout=10_000)


def test_edit_preview_save_then_events_sent_after_use_the_new_version(qtbot, window):
    first = '{"client": "acme", "amount": 1, "total_cents": 1234, "ts": 1700000000000}'
    assert send(qtbot, window, first).accepted == 1
    qtbot.waitUntil(lambda: totals(window) == {("acme", None): (1, Decimal(1))})

    window.schemas_action.trigger()
    dialog = window.schemas_dialog
    assert dialog.isVisible() and dialog.windowTitle() == "Client schemas"
    dialog.select_client("acme")
    dialog.load_recent_button.click()
    qtbot.waitUntil(lambda: dialog.samples.toPlainText() == first, timeout=10_000)
    wait_preview(qtbot, dialog, 1)
    assert preview_rows(dialog)[0][:5] == (1, "normalized", "heuristics", "acme", "1")

    dialog.amount_field.setText("total_cents")
    dialog.units.setCurrentIndex(dialog.units.findData("cents"))
    dialog.currency.setText("eur")
    dialog.time_field.setText("ts")
    dialog.time_format.setCurrentIndex(dialog.time_format.findData("epoch_ms"))
    dialog.note.setText("amounts are cents")
    wait_preview(qtbot, dialog, 1)
    assert preview_rows(dialog) == [(1, "normalized", "v1 (new)", "acme", "12.34", "EUR",
                                     "2023-11-14 22:13:20.000", "", "")]
    assert dialog.save_button.text() == "Save as v1" and dialog.save_button.isEnabled()
    assert window.service.counts()["events"] == 1  # a preview stores nothing

    with qtbot.waitSignal(dialog.saved, timeout=10_000) as saved:
        dialog.save_button.click()
    assert (saved.args[0].version, saved.args[0].note) == (1, "amounts are cents")
    qtbot.waitUntil(lambda: [cell(dialog.list_model, 0, c) for c in range(2)] == ["acme", "v1"])
    qtbot.waitUntil(lambda: dialog.history_model.rowCount() == 1)
    assert cell(dialog.history_model, 0, 3) == "amounts are cents"
    assert not dialog.save_button.isEnabled()  # the form is the active version now
    assert dialog.status.text() == 'This is client "acme" v1, the active mapping.'

    # the same event again is still a duplicate; a new one is normalized by v1
    assert send(qtbot, window, first).duplicates == 1
    assert send(qtbot, window, '{"client": "ACME", "amount": 1, "total_cents": 500, '
                               '"ts": 1700000001000}').accepted == 1
    qtbot.waitUntil(lambda: totals(window) == {("acme", None): (1, Decimal(1)),
                                               ("acme", "EUR"): (1, Decimal("5.00"))})
    model = window.clients.model
    qtbot.waitUntil(lambda: [cell(model, r, 6) for r in range(model.rowCount())] == ["v1", "v1"])
    record = next(r for r in window.log_view.model.rows() if r.outcome is Outcome.ACCEPTED
                  and r.currency == "EUR")
    assert (record.client, record.amount) == ("ACME", "5.00")
    event_dialog = window.open_record(record)
    texts = [label.text() for label in event_dialog.findChildren(QLabel)]
    assert "this client's schema v1" in texts and "5.00" in texts
    event_dialog.close()

    # the old event kept the heuristics; the history counts what each version normalized
    dialog.close()
    window.clients.table.doubleClicked.emit(model.index(0, 0))
    assert window.schemas_dialog is dialog and dialog.isVisible()
    qtbot.waitUntil(lambda: cell(dialog.history_model, 0, 2) == "1")  # v1 normalized one event
    assert dialog.heuristics_label.text() == ("1 stored event(s) of this client were normalized "
                                              "by the heuristics.")


def test_a_mapping_that_is_not_valid_cannot_be_saved_and_rejections_show(qtbot, window):
    window.service.save_mapping(new_mapping("<b>Acme</b>", "gross"))
    dialog = window.open_schemas()
    qtbot.waitUntil(lambda: dialog.list_model.rowCount() == 1, timeout=10_000)
    assert cell(dialog.list_model, 0, 0) == "<b>Acme</b>"  # names are shown, never rendered
    assert dialog.client_name() == "<b>Acme</b>"
    qtbot.waitUntil(lambda: dialog.history_label.text() == 'Versions of "<b>Acme</b>"')
    for label in (dialog.status, dialog.history_label, dialog.preview_label,
                  dialog.heuristics_label):
        assert label.textFormat() == Qt.TextFormat.PlainText

    dialog.currency.setText("abc")
    assert not dialog.save_button.isEnabled()
    assert dialog.status.text() == 'Not saveable yet: "abc" is not an ISO 4217 currency code'
    dialog.currency.setText("")
    dialog.amount_field.setText("payment.total")
    dialog.samples.setPlainText('{"client": "<b>acme</b>", "gross": 5}\n'
                                '{"client": "<B>ACME</B>", "payment": {"total": "7.5"}}\n'
                                '{"client": "globex", "amount": 3}')
    wait_preview(qtbot, dialog, 3)
    rows = preview_rows(dialog)
    assert rows[0][:4] == (1, "rejected", "", 'mapping_field_missing: client "<b>Acme</b>" v2 '
                                              'says amount is in "payment.total"; not found')
    assert rows[1][:5] == (2, "normalized", "v2 (new)", "<B>ACME</B>", "7.5")
    assert rows[2][:5] == (3, "normalized", "heuristics", "globex", "3")
    assert dialog.preview_table.columnSpan(0, 3) == dialog.preview_model.columnCount() - 3
    assert dialog.preview_label.text() == ("Preview — 3 events under proposed v2: 1 by a "
                                           "mapping, 1 by the heuristics, 1 rejected")

    dialog.amount_field.setText("gross")  # back to the active version: nothing to save
    assert not dialog.save_button.isEnabled()
    wait_preview(qtbot, dialog, 3)
    assert [r[2] for r in preview_rows(dialog)] == ["v1", "", "heuristics"]


def test_hand_a_client_back_to_the_heuristics(qtbot, window):
    window.service.save_mapping(new_mapping("acme", "total_cents", units="cents"))
    dialog = window.open_schemas()
    qtbot.waitUntil(lambda: dialog.list_model.rowCount() == 1, timeout=10_000)
    dialog.select_client("acme")
    qtbot.waitUntil(dialog.retire_button.isEnabled)
    with qtbot.waitSignal(dialog.saved, timeout=10_000) as saved:
        dialog.retire_button.click()
    assert (saved.args[0].version, saved.args[0].retired) == (2, True)
    qtbot.waitUntil(lambda: dialog.list_model.rowCount() == 0)
    qtbot.waitUntil(lambda: dialog.history_model.rowCount() == 2)
    assert not dialog.retire_button.isEnabled()
    # the next mapping comes after the retired version, in the form and in the preview
    dialog.amount_field.setText("gross")
    qtbot.waitUntil(lambda: dialog.save_button.text() == "Save as v3")
    dialog.samples.setPlainText('{"client": "acme", "gross": 5}')
    wait_preview(qtbot, dialog, 1)
    assert preview_rows(dialog)[0][2] == "v3 (new)"
    # events sent now are normalized by the heuristics
    assert send(qtbot, window, '{"client": "acme", "amount": 4}').accepted == 1
    qtbot.waitUntil(lambda: totals(window) == {("acme", None): (1, Decimal(4))})
