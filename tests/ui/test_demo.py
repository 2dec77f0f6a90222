"""Play demo (F5) plays in a database of its own and gives the user's database and settings back."""
import httpx
from PySide6.QtWidgets import QWidget

from faultsim_desktop.core.faults import FaultMode, FaultPoint
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService

from .helpers import send, totals

USER_EVENTS = "\n".join(
    f'{{"client": "mine-{i % 2}", "amount": "{i}.10", "currency": "EUR", "event_id": "u{i}"}}'
    for i in range(1, 6))


def _user_setup(qtbot, w):
    """The user's own database with events, and their own retry, fault and chart settings."""
    s = send(qtbot, w, USER_EVENTS)
    assert s.accepted == 5
    qtbot.waitUntil(lambda: sum(c for c, _ in totals(w).values()) == 5)
    w.fault_panel.set_retry(6, 500, 5000)
    w.fault_panel.set_fault(FaultPoint.LATENCY, FaultMode.PROBABILITY, probability=0.45)
    w.fault_panel.latency.setValue(120)
    w.fault_panel.seed.setValue(99)
    w.totals_chart.metric_box.setCurrentIndex(w.totals_chart.metric_box.count() - 1)
    w.editor.set_text('{"client": "draft", "amount": "1"}')
    return {"db": w.service.db_path, "stats": w.service.stats(), "counts": w.service.counts(),
            "panel": w.fault_panel.state(), "metric": w.totals_chart.metric_box.currentText(),
            "log": len(w.log_view.model.rows())}


def _assert_given_back(qtbot, w, before, demo_folder):
    assert w.service.db_path == before["db"]
    assert w.windowTitle() == f"faultsim-desktop — {before['db'].name}"
    assert w.service.stats() == before["stats"] and w.service.counts() == before["counts"]
    qtbot.waitUntil(lambda: sum(c for c, _ in totals(w).values()) == 5)
    assert w.fault_panel.state() == before["panel"]
    assert w.service.retry_policy == RetryPolicy(attempts=6, base_delay_s=0.5, cap_s=5.0)
    assert w.bridge.service.retry_policy == w.fault_panel.retry_policy()
    assert w.totals_chart.metric_box.currentText() == before["metric"]
    assert w.editor.text() == '{"client": "draft", "amount": "1"}'
    assert len(w.log_view.model.rows()) == before["log"]
    assert not w.crash_action.isChecked() and w.banner.isHidden()
    qtbot.waitUntil(lambda: not w.findChildren(QWidget, "demoBanner"))  # deleted later
    assert not demo_folder.exists()  # the temporary database is gone
    w.save_settings()
    assert w.settings.value("database/last") == str(before["db"])
    assert int(w.settings.value("faults/attempts")) == 6


def test_demo_to_the_end_leaves_the_users_database_and_settings(qtbot, window):
    before = _user_setup(qtbot, window)
    demo = window.play_demo(speed=25.0)
    folder = demo.demo_db.parent
    assert demo.running
    assert window.service.db_path == demo.demo_db != before["db"]
    assert "DEMO database" in window.windowTitle()
    assert demo.banner.isVisible() and "DEMO" in demo.banner.label.text()
    assert window.fault_panel.retry_policy() != RetryPolicy(6, 0.5, 5.0)  # the demo's own
    with qtbot.waitSignal(demo.finished, timeout=180_000) as blocker:
        pass
    assert blocker.args == [True]  # the demo's own totals were exact
    _assert_given_back(qtbot, window, before, folder)
    # the user's database took none of the demo's events
    assert {r.client for r in window.service.stats()} == {"mine-0", "mine-1"}


def test_demo_stopped_midway_gives_everything_back(qtbot, window):
    before = _user_setup(qtbot, window)
    demo = window.play_demo(speed=25.0)
    folder = demo.demo_db.parent
    # stop it while the crash switch is on and sends fail in the demo's database
    qtbot.waitUntil(lambda: window.crash_action.isChecked(), timeout=120_000)
    with qtbot.waitSignal(demo.finished, timeout=60_000):
        demo.banner.stop_button.click()
    assert not demo.running
    _assert_given_back(qtbot, window, before, folder)
    assert window.service.outbox.count() == 0  # the demo's pending events stayed in its database


def test_window_closed_during_the_demo_saves_the_users_settings(qtbot, make_window, settings):
    w = make_window()
    before = _user_setup(qtbot, w)
    demo = w.play_demo(speed=25.0)
    folder = demo.demo_db.parent
    qtbot.waitUntil(lambda: w.service.counts()["events"] > 0, timeout=120_000)
    w.close()
    assert not folder.exists()
    settings.sync()
    assert settings.value("database/last") == str(before["db"])
    assert int(settings.value("faults/attempts")) == 6
    assert int(settings.value("faults/cap_ms")) == 5000
    assert settings.value("chart/metric") == before["metric"]
    with IngestService(before["db"], workers=0) as svc:
        assert svc.stats() == before["stats"]


def test_the_user_cannot_ingest_files_into_the_demo_database(qtbot, window, tmp_path):
    path = tmp_path / "mine.ndjson"
    path.write_text(USER_EVENTS, encoding="utf-8")
    messages = []
    window.message.connect(messages.append)
    demo = window.play_demo(speed=25.0)
    window.ingest_files([str(path)])
    assert "stop it before ingesting files" in messages[-1]
    assert not window.bridge.busy
    with qtbot.waitSignal(demo.finished, timeout=60_000):
        demo.stop()
    assert window.service.counts()["events"] == 0


def test_the_users_http_server_pauses_during_the_demo(qtbot, window):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = window.serve_control
    serve.port.setValue(port)
    serve.button.click()
    assert serve.running
    demo = window.play_demo(speed=25.0)
    assert not serve.running  # its clients would write into the throwaway database
    with qtbot.waitSignal(demo.finished, timeout=60_000):
        demo.stop()
    assert serve.running and serve.url == f"http://127.0.0.1:{port}"
    r = httpx.post(f"{serve.url}/events", content=USER_EVENTS, timeout=20)
    assert r.status_code in (200, 201), r.text
    qtbot.waitUntil(lambda: sum(c for c, _ in totals(window).values()) == 5)  # into the user's
    with qtbot.waitSignal(serve.runningChanged, timeout=20_000):
        serve.button.click()


def test_window_closed_while_a_stopped_demo_winds_down(qtbot, make_window, settings):
    w = make_window()
    before = _user_setup(qtbot, w)
    demo = w.play_demo(speed=25.0)
    folder = demo.demo_db.parent
    qtbot.waitUntil(lambda: w.crash_action.isChecked(), timeout=120_000)
    demo.stop()
    w.close()  # the fixture then checks that no thread or timer is left running
    assert not demo.running and not folder.exists()
    settings.sync()
    assert settings.value("database/last") == str(before["db"])
    assert int(settings.value("faults/attempts")) == 6
