"""The "Serve on port" switch: the HTTP API of ``faultsim serve`` inside the window's process.

The server (uvicorn in a thread of its own, ``server.BackgroundServer``) uses the window's
IngestService, so events posted from outside reach the bridge's subscription like any other:
live in the log, the charts and the clients table. It listens on 127.0.0.1 only (no token
needed there). Switching it off asks uvicorn to stop and polls until its thread has ended, so
the GUI never waits for the requests under way; closing the window does wait for them.

While it serves, the crash panel's wire faults (drop the answer, drop the request, slow
answer, 503) act on its POST /events; they are set on the service's fault switch when the
server starts or the panel changes, and turned off when it stops, so an import never records
wire faults that nothing could fire.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QToolButton, QWidget

from ..core.faults import WIRE_POINTS, FaultConfig, FaultMode
from ..core.service import IngestService
from ..server import DEFAULT_PORT, BackgroundServer


class ServeControl(QWidget):
    message = Signal(str)
    runningChanged = Signal(bool)  # after the server started, or after its thread ended

    def __init__(self, service: Callable[[], IngestService], parent=None):
        super().__init__(parent)
        self._service = service
        self.server: BackgroundServer | None = None
        self._stopping: list[BackgroundServer] = []
        self.button = QToolButton(self)
        self.button.setObjectName("serveSwitch")
        self.button.setText("Serve on port")
        self.button.setCheckable(True)
        self.button.setToolTip("Accept events over HTTP on 127.0.0.1: POST them to /events")
        self.port = QSpinBox(self)
        self.port.setObjectName("servePort")
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("any")  # 0: any free port
        self.port.setValue(DEFAULT_PORT)
        self.url_label = QLabel(self)
        self.url_label.setObjectName("serveUrl")
        self.url_label.setTextFormat(Qt.TextFormat.PlainText)
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.port)
        layout.addWidget(self.url_label)
        self._poll = QTimer(self)
        self._poll.setObjectName("serve-stop-poll")
        self._poll.setInterval(50)
        self._poll.timeout.connect(self._check_stopped)
        self.button.toggled.connect(self.set_serving)
        self._wire_box = None  # the crash panel's WireFaultBox, once bound
        self._wire_applied: dict = {}  # what the panel said when last applied

    def bind_wire_faults(self, panel) -> None:
        """Show ``panel``'s wire faults while serving and apply them to the served engine."""
        self._wire_box = panel.wire
        panel.wire.changed.connect(self._apply_wire_faults)
        self.runningChanged.connect(panel.set_serving)

    def _wire_configs(self) -> dict:
        return self._wire_box.configs() if self._wire_box is not None else {}

    @Slot()
    def _apply_wire_faults(self) -> None:
        if self.server is None:
            return
        configs = self._wire_configs()
        faults = self._service().faults
        for point, config in configs.items():
            # only the points the panel changed: a spent "next N" stays spent
            if self._wire_applied.get(point) != config:
                faults.set(point, config)
        self._wire_applied = configs
        on = [c for c in configs.values() if c.mode is not FaultMode.OFF]
        self.message.emit(f"HTTP faults on POST /events: {self._wire_box.describe()}" if on
                          else "HTTP faults off")

    def _clear_wire_faults(self, service: IngestService) -> None:
        for point in WIRE_POINTS:
            service.faults.set(point, FaultConfig())

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def url(self) -> str | None:
        return self.server.url if self.server is not None else None

    @Slot(bool)
    def set_serving(self, on: bool) -> None:
        if on and self.server is None:
            self._start()
        elif not on and self.server is not None:
            self._clear_wire_faults(self._service())
            srv, self.server = self.server, None
            srv.request_stop()
            self._stopping.append(srv)
            self.button.setEnabled(False)  # until the port is free again
            self.url_label.setText("stopping…")
            self._poll.start()
        self._sync_button()

    def _start(self) -> None:
        port = self.port.value()
        try:
            self.server = BackgroundServer(self._service(), port=port)
        except OSError as exc:
            self.message.emit(f"Cannot serve on port {port}: {exc.strerror or exc}")
            self._sync_button()
            return
        self.port.setEnabled(False)
        self.url_label.setText(self.server.url)
        self._wire_applied = self._wire_configs()
        for point, config in self._wire_applied.items():
            self._service().faults.set(point, config)
        self.message.emit(f"Serving on {self.server.url}: POST events to "
                          f"{self.server.url}/events; they show up here live")
        self.runningChanged.emit(True)

    def _sync_button(self) -> None:
        if self.button.isChecked() != self.running:
            self.button.blockSignals(True)
            self.button.setChecked(self.running)
            self.button.blockSignals(False)

    @Slot()
    def _check_stopped(self) -> None:
        self._stopping = [s for s in self._stopping if s.running]
        if self._stopping:
            return
        self._poll.stop()
        self._idle()
        self.message.emit("HTTP server stopped")
        self.runningChanged.emit(False)

    def _idle(self) -> None:
        self.button.setEnabled(True)
        self.port.setEnabled(True)
        self.url_label.setText("")

    def suspend(self) -> bool:
        """Stop now (before the window changes its service); True when it was serving."""
        was = self.server is not None
        self.shutdown()
        return was

    def resume(self, was_serving: bool) -> None:
        if was_serving:
            self.button.setChecked(True)

    def shutdown(self) -> None:
        """Stop the server and wait for its thread (the window is closing). Idempotent."""
        servers = self._stopping + ([self.server] if self.server is not None else [])
        if self.server is not None:
            self._clear_wire_faults(self._service())
        self.server, self._stopping = None, []
        self._poll.stop()
        for srv in servers:
            srv.stop()
        if servers:
            self._sync_button()
            self._idle()
