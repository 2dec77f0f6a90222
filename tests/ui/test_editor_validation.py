"""Live validation: the first error with line and column; invalid text sends nothing."""
from faultsim_desktop.ui.jsonfmt import compact_text, format_text

BROKEN = '{"client": "acme",\n "amount": 12\n "currency": "USD"}'


def test_invalid_text_shows_line_and_column_and_sends_nothing(qtbot, window):
    window.editor.set_text(BROKEN)
    qtbot.waitUntil(lambda: window.editor.error_label.isVisible())
    text = window.editor.error_label.text()
    assert text.startswith("line 3, column 2:"), text
    assert "expected ',' or '}'" in text
    # the error is marked in the text: a selection on line 3
    marks = window.editor.editor.extraSelections()
    assert marks and marks[-1].cursor.block().blockNumber() == 2

    messages = []
    window.message.connect(messages.append)
    window.editor.send()
    assert any(m.startswith("Not sent: line 3, column 2") for m in messages)
    qtbot.wait(300)  # several bridge ticks: nothing may arrive
    assert window.log_view.model.rowCount() == 0
    assert window.service.counters.snapshot()["accepted"] == 0
    assert window.service.stats() == []


def test_event_count_follows_the_text(qtbot, window):
    window.editor.set_text('{"client": "a", "amount": 1}\n{"client": "b", "amount": 2}\n')
    qtbot.waitUntil(lambda: window.editor.count_label.text() == "2 events")
    assert not window.editor.error_label.isVisible()
    window.editor.set_text('[{"client": "a", "amount": 1}]')
    qtbot.waitUntil(lambda: window.editor.count_label.text() == "1 event")
    window.editor.set_text("")
    qtbot.waitUntil(lambda: window.editor.count_label.text() == "empty")


def test_format_and_compact_keep_every_value(qtbot, window):
    text = '{"client":"a","amount":12.50,"x":1e3,"client":"dup"}\n{"client":"b","amount":0.10}'
    pretty = format_text(text)
    assert pretty.startswith("[\n  {\n") and '"amount": 12.50' in pretty and "1e3" in pretty
    assert pretty.count('"client"') == 3  # duplicate keys are kept, never merged
    assert compact_text(pretty) == ('{"client":"a","amount":12.50,"x":1e3,"client":"dup"}\n'
                                    '{"client":"b","amount":0.10}\n')
    window.editor.set_text('{"client":"a","amount":1}')
    window.format_action.trigger()
    assert window.editor.text() == '{\n  "client": "a",\n  "amount": 1\n}\n'
    window.compact_action.trigger()
    assert window.editor.text() == '{"client":"a","amount":1}\n'


def test_samples_menu_lists_the_samples(window):
    titles = [a.text() for a in window.samples_menu.actions()]
    for expected in ("Bad lines", "Idempotency conflicts", "Messy field names", "Money locales",
                     "Nested clients", "Retries reordered keys"):
        assert expected in titles
