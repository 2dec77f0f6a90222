"""Helpers shared by the window tests."""
from PySide6.QtCore import QTimer

from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService


def open_window(qtbot, db_path, settings, *, workers=0, restore=False):
    from faultsim_desktop.ui.main_window import MainWindow

    def factory(path):
        return IngestService(path, retry=RetryPolicy(attempts=3, base_delay_s=0.01, cap_s=0.05),
                             workers=workers, seed=7)
    w = MainWindow(factory(db_path), settings, service_factory=factory, restore=restore)
    qtbot.addWidget(w)
    w.fault_panel.set_retry(3, 10, 50)  # fast backoff keeps crash tests short
    w.show()
    qtbot.waitExposed(w)
    return w


def assert_nothing_running(w):
    running = [t.objectName() for t in w.bridge.threads() if t.isRunning()]
    assert not running, f"threads still running: {running}"
    timers = [f"{t.objectName() or 'unnamed'} in {type(t.parent()).__name__}"
              for t in w.findChildren(QTimer) if t.isActive()]
    assert not timers, f"timers still active: {timers}"


def send(qtbot, w, text, *, anyway=False, timeout=20_000):
    """Type ``text`` into the editor and send it; returns the Summary."""
    w.editor.set_text(text)
    with qtbot.waitSignal(w.bridge.textFinished, timeout=timeout) as blocker:
        w.editor.send(anyway=anyway)
    return blocker.args[0]


def totals(w):
    """The clients table as {(client, currency): (count, total)}."""
    return {(r.client, r.currency): (r.count, r.total) for r in w.clients.model.rows()}
