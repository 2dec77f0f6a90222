"""A large file loads in the background with progress and can be cancelled; nothing half-counted."""
import json

from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.service import StandbyIngest
from faultsim_desktop.ui import bridge


def _write_events(path, n):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"client": f"client-{i % 50}", "amount": f"{i % 1000}.{i % 100:02d}",
                                "currency": "USD", "event_id": f"ev-{i}"}) + "\n")


def test_large_file_progress_then_complete(qtbot, window, tmp_path):
    path = tmp_path / "events.ndjson"
    _write_events(path, 30_000)
    progress = []
    window.bridge.fileProgress.connect(progress.append)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=60_000) as blocker:
        window.ingest_files([str(path)])
        assert window.progress.isVisible() and window.cancel_button.isVisible()
    s = blocker.args[0]
    assert (s.received, s.accepted, s.cancelled) == (30_000, 30_000, False)
    assert progress and progress[-1].done == progress[-1].total
    qtbot.waitUntil(lambda: window.progress.isHidden())
    qtbot.waitUntil(lambda: sum(r.count for r in window.clients.model.rows()) == 30_000)


def test_cancel_keeps_what_was_committed(qtbot, window, tmp_path):
    path = tmp_path / "big.ndjson"
    _write_events(path, 150_000)
    cancelled = []

    def on_outcomes(records):  # Cancel once events are committed, so some were surely read
        if not cancelled:
            cancelled.append(len(records))
            window.cancel_button.click()
    window.bridge.outcomes.connect(on_outcomes)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(path)])
    s = blocker.args[0]
    assert s.cancelled
    assert 0 < s.received < 150_000
    svc = window.service
    # every event that was read before Cancel was stored exactly once; the rest never arrived
    assert s.accepted == s.received
    assert sum(r.count for r in svc.stats()) == s.accepted
    assert svc.stats() == svc.stats_from_events()
    qtbot.waitUntil(lambda: sum(r.count for r in window.clients.model.rows()) == s.accepted)
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == s.accepted)
    assert {r.outcome for r in window.log_view.model.rows()} == {Outcome.ACCEPTED}


def test_large_file_with_workers_goes_through_a_child_process(qtbot, make_window, tmp_path):
    window = make_window(workers=1)  # as the app runs: large files in a child process
    path = tmp_path / "events.ndjson"
    _write_events(path, 40_000)  # about 3 MB: over the child-ingest threshold
    seen = []
    window.bridge.outcomes.connect(seen.extend)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(path)])
    s = blocker.args[0]
    assert (s.received, s.accepted, s.failed) == (40_000, 40_000, 0)
    qtbot.waitUntil(lambda: len(seen) == 40_000, timeout=20_000)
    qtbot.waitUntil(lambda: sum(r.count for r in window.clients.model.rows()) == 40_000,
                    timeout=20_000)
    assert window.service.stats() == window.service.stats_from_events()
    assert window.service.counters.snapshot()["accepted"] == 40_000
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(path)])  # the same file again: every event a duplicate
    assert (blocker.args[0].duplicates, blocker.args[0].accepted) == (40_000, 0)


def test_a_large_file_starts_in_the_child_process_kept_ready(qtbot, make_window, tmp_path,
                                                              monkeypatch):
    """With workers, the window keeps a child process ready (database open) once it is idle;
    the next large file is ingested there, and another is made ready after it. Closing the
    window ends the one waiting."""
    started = []
    original = StandbyIngest.__init__

    def spy(self, service):
        original(self, service)
        started.append(self)
    monkeypatch.setattr(StandbyIngest, "__init__", spy)
    window = make_window(workers=1)
    qtbot.waitUntil(window.bridge.standby_ready, timeout=60_000)
    [ready] = started
    path = tmp_path / "events.ndjson"
    _write_events(path, 40_000)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(path)])
    assert len(started) == 1  # no new process was needed for the file
    ready.process.join(30)
    assert ready.process.exitcode == 0
    s = blocker.args[0]
    assert (s.received, s.accepted, s.failed) == (40_000, 40_000, 0)
    qtbot.waitUntil(lambda: sum(r.count for r in window.clients.model.rows()) == 40_000,
                    timeout=20_000)
    assert window.service.stats() == window.service.stats_from_events()
    qtbot.waitUntil(window.bridge.standby_ready, timeout=60_000)  # one more, for the next file
    assert len(started) == 2 and started[1].process.pid != ready.process.pid
    window.close()
    assert started[1].process.exitcode == 0


def test_each_large_file_of_an_open_finds_a_child_process_ready(qtbot, make_window, tmp_path,
                                                                monkeypatch):
    """While one large file of an Open is ingested, a child is made ready for the next."""
    started, given = [], []
    original, original_child = StandbyIngest.__init__, bridge.ChildIngest

    def spy(self, service):
        original(self, service)
        started.append(self)

    def child(service, path, standby=None):
        given.append(standby)  # what the window had ready when the file's ingest began
        return original_child(service, path, standby)
    monkeypatch.setattr(StandbyIngest, "__init__", spy)
    monkeypatch.setattr(bridge, "ChildIngest", child)
    window = make_window(workers=1)
    qtbot.waitUntil(window.bridge.standby_ready, timeout=60_000)
    paths = [tmp_path / "first.ndjson", tmp_path / "second.ndjson"]
    _write_events(paths[0], 40_000)
    with open(paths[1], "w", encoding="utf-8") as f:  # other events, as large
        for i in range(40_000):
            f.write(json.dumps({"client": f"other-{i % 50}", "amount": f"{i % 900}.50",
                                "currency": "EUR", "event_id": f"other-{i}"}) + "\n")
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(p) for p in paths])
    s = blocker.args[0]
    assert (s.received, s.accepted, s.failed) == (80_000, 80_000, 0)
    assert given == started  # the one ready at the Open, and one made during the first file
    for standby in started:
        standby.process.join(30)
        assert standby.process.exitcode == 0
    assert [i.accepted for i in window.service.imports()] == [40_000, 40_000]
    assert window.service.stats() == window.service.stats_from_events()
