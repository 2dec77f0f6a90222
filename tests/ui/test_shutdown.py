"""Closing the window during an ingest stops every thread and timer cleanly."""
import json
import threading

from .helpers import assert_nothing_running


def test_close_during_ingest(qtbot, make_window, tmp_path):
    window = make_window()
    path = tmp_path / "big.ndjson"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(200_000):
            f.write(json.dumps({"client": f"c{i % 7}", "amount": i, "event_id": str(i)}) + "\n")
    with qtbot.waitSignal(window.bridge.fileProgress, timeout=30_000):
        window.ingest_files([str(path)])
    assert window.bridge.busy
    window.close()
    assert_nothing_running(window)
    assert not any(t.name == "faultsim-writer" for t in threading.enumerate())
    counts = window.service.stats()  # the database stays consistent after an early close
    svc_events = sum(r.count for r in counts)
    assert svc_events < 200_000


def test_close_during_crash_retries(qtbot, make_window):
    window = make_window()
    window.fault_panel.set_retry(50, 1000, 5000)  # long backoff: closing must not wait it out
    window.crash_action.setChecked(True)
    window.editor.set_text('{"client": "a", "amount": 1}')
    window.editor.send()
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() >= 1, timeout=10_000)
    window.close()
    assert_nothing_running(window)
    assert window.service.outbox.count() == 1  # kept durably for the next run


def test_close_during_a_child_process_ingest(qtbot, make_window, tmp_path):
    import multiprocessing

    window = make_window(workers=1)
    path = tmp_path / "big.ndjson"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(300_000):
            f.write(json.dumps({"client": f"c{i % 7}", "amount": i, "event_id": str(i)}) + "\n")
    with qtbot.waitSignal(window.bridge.fileProgress, timeout=60_000):
        window.ingest_files([str(path)])
    window.close()
    assert_nothing_running(window)
    assert multiprocessing.active_children() == []  # the ingest process and its workers ended
    stats = window.service.stats()  # whatever was committed is whole and consistent
    assert stats == window.service.stats_from_events()
    assert sum(r.count for r in stats) < 300_000
