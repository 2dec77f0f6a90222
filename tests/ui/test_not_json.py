"""Opening a file that is not JSON text shows one message that says what it looks like; the
quarantine gets one entry, not one per garbage line."""
import struct
import zlib

from faultsim_desktop.ui.bridge import CHILD_INGEST_BYTES


def _png() -> bytes:
    def block(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes((x * 5 + y) % 256 for x in range(96)) for y in range(32))
    return (b"\x89PNG\r\n\x1a\n" + block(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
            + block(b"IDAT", zlib.compress(rows)) + block(b"IEND", b""))


def _open(qtbot, window, path):
    messages = []
    window.message.connect(messages.append)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=60_000) as blocker:
        window.ingest_files([str(path)])
    return blocker.args[0], messages


def test_opening_an_image_says_it_is_an_image(qtbot, window, tmp_path):
    path = tmp_path / "chart.png"
    path.write_bytes(_png())
    summary, messages = _open(qtbot, window, path)
    assert (summary.received, summary.rejected) == (1, 1)
    assert messages[-1] == f"{path}: looks like a PNG image, not JSON; nothing in it was read"
    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 1)


def test_a_large_markdown_file_is_refused_by_the_ingest_process(qtbot, make_window, tmp_path):
    """Files of a MiB and more go through a child process (ChildIngest): same message."""
    window = make_window(workers=1)
    path = tmp_path / "notes.md"
    line = b"Events arrive late, out of order and twice; the totals stay exact.\n"
    path.write_bytes(b"# Notes\n\n" + line * (CHILD_INGEST_BYTES // len(line) + 10))
    summary, messages = _open(qtbot, window, path)
    assert (summary.received, summary.rejected) == (1, 1)
    assert messages[-1] == (f"{path}: looks like Markdown text, not JSON; "
                            "nothing in it was read")
    qtbot.waitUntil(lambda: window.quarantine_panel.model.rowCount() == 1)


def test_a_mixed_open_names_the_refused_file_and_counts_the_rest(qtbot, window, tmp_path):
    good = tmp_path / "good.ndjson"
    good.write_text('{"client": "acme", "amount": 2}\n{"client": "acme", "amount": x}\n')
    bad = tmp_path / "table.csv"
    bad.write_text("client,amount\nacme,2\nglobex,3\n")
    messages = []
    window.message.connect(messages.append)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=60_000):
        window.ingest_files([str(good), str(bad)])
    assert messages[-1].startswith("Files: 3 events — 1 accepted, 0 duplicates, 2 rejected")
    assert messages[-1].endswith(f"not read: {bad}: looks like CSV text (comma-separated "
                                 "values), not JSON; nothing in it was read")


def test_loading_an_image_into_the_editor_is_refused(qtbot, window, tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(_png())
    window.editor.set_text('{"client": "kept", "amount": 1}')
    messages = []
    window.message.connect(messages.append)
    window.load_path_into_editor(str(path))
    assert messages == [f"{path}: looks like a PNG image, not JSON; nothing in it was read"]
    assert window.editor.editor.toPlainText() == '{"client": "kept", "amount": 1}'
