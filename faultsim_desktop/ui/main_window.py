"""The main window: composes the charts, the docks and the commands of its mixins."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from ..core.model import Outcome, OutcomeRecord
from ..core.service import IngestService
from .bridge import EngineBridge
from .charts import RateChart, TotalsChart
from .clients import ClientsView
from .crash_control import CrashControl
from .database_switching import DatabaseSwitching
from .db_banner import OpenFailedDialog, StorageBanner
from .dialogs import EventDialog
from .drilldown import ClientDrilling
from .editor import EditorPanel
from .explain_panel import ExplainPanel
from .exports import Exports
from .faults_panel import FaultPanel
from .file_loading import FileLoading
from .imports_panel import ImportsPanel
from .log_view import LogView
from .paths import icon_path, samples_dir
from .quarantine import PendingPanel, QuarantinePanel, raw_text
from .schemas import SchemasDialog
from .status_reports import StatusReports, summary_text
from .theme import CRASH_RED, is_dark
from .window_actions import WindowActions
from .window_layout import WindowLayout


class MainWindow(WindowActions, WindowLayout, StatusReports, DatabaseSwitching, FileLoading,
                 Exports, CrashControl, ClientDrilling, QMainWindow):
    """Each mixin holds one job (actions, layout, status bar, databases, files, exports, the
    crash switch); the window owns the widgets they share and wires them to the engine."""

    message = Signal(str)  # every status message, also for tests

    def __init__(self, service: IngestService, settings: QSettings, *,
                 service_factory: Callable[[Path], IngestService] | None = None,
                 resources_samples: Path | None = None, restore: bool = True, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.service_factory = service_factory
        self.setObjectName("faultsimMainWindow")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        icon = icon_path()
        if icon is not None:
            self.setWindowIcon(QIcon(str(icon)))
        self.bridge = EngineBridge(service, self)
        # While a file streams in, a snapshot of the totals reaches the chart a quarter of the
        # way between two of the bridge's ticks and the clients table three quarters of the way
        # (the rate chart at half way): each paints apart from the log's paint at the tick and
        # from one another, short pauses of the GUI thread instead of one long one
        self._chart_stats: list | None = None
        self._table_stats: list | None = None
        self._chart_timer = self._phase_timer("totals-chart-follows", self._show_chart_stats)
        self._table_timer = self._phase_timer("clients-table-follows", self._show_table_stats)
        self._dialogs: list[EventDialog] = []
        self.schemas_dialog: SchemasDialog | None = None
        self.scenarios_window = None  # Simulate ▸ Scenarios…, made when first opened
        self._closing = False
        self._switching = False  # True while use_service turns the crash switch off
        self.remember_db = True

        self.banner = QLabel("DATABASE CRASH SIMULATION ON", self)
        self.banner.setObjectName("crashBanner")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setStyleSheet(f"background: {CRASH_RED}; color: white; font-weight: 700;"
                                  " font-size: 15px; padding: 6px; letter-spacing: 1px;")
        self.banner.hide()
        self.storage_banner = StorageBanner(self)  # a real storage problem, while it lasts
        self.open_failed_dialog: OpenFailedDialog | None = None
        self.totals_chart = TotalsChart(self)
        self.rate_chart = RateChart(self)
        self.rate_chart.redraw_delay = lambda: self.bridge.ms_until_phase(0.5)
        self.chart_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.chart_splitter.setObjectName("chartSplitter")
        self.chart_splitter.addWidget(self.totals_chart)
        self.chart_splitter.addWidget(self.rate_chart)
        self.chart_splitter.setStretchFactor(0, 2)
        self.chart_splitter.setStretchFactor(1, 1)  # the totals get two thirds
        central = QWidget(self)
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        cl.addWidget(self.storage_banner)
        cl.addWidget(self.chart_splitter, 1)
        self.setCentralWidget(central)

        self.editor = EditorPanel(self.bridge, resources_samples or samples_dir(), self)
        self.log_view = LogView(self)
        self.clients = ClientsView(self)
        self.fault_panel = FaultPanel(self)
        self.quarantine_panel = QuarantinePanel(self)
        self.pending_panel = PendingPanel(self)
        self.imports_panel = ImportsPanel(self)
        self.explain_panel = ExplainPanel(self)

        self.docks: dict[str, QDockWidget] = {}
        self._dock("editor", "Event editor", self.editor, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("faults", "Crash simulation", self.fault_panel,
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("clients", "Clients", self.clients, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("log", "Live log", self.log_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("quarantine", "Quarantine", self.quarantine_panel,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("pending", "Pending", self.pending_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("imports", "Imports", self.imports_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("explain", "Explain", self.explain_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._docks_follow_window = True
        self._default_layout()
        for dock in self.docks.values():  # a dock the user moves ends the default layout
            dock.dockLocationChanged.connect(self._stop_following)
            dock.topLevelChanged.connect(self._stop_following)
        self.installEventFilter(self)  # a press on a dock separator does too

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()

        if restore:
            self.restore_settings()
        else:
            self.resize(1440, 900)
        self.apply_retry_policy()
        self.service.faults.enabled = False  # the switch is off whenever the window opens
        self._apply_fault_config()
        self._show_db()
        self._default_state = None
        self._drain_pending_on_open()

    @property
    def service(self) -> IngestService:
        return self.bridge.service

    def _connect(self) -> None:
        b = self.bridge
        b.outcomes.connect(self.log_view.append)
        b.countersChanged.connect(self.update_counters)
        b.countersChanged.connect(self.rate_chart.add_counters)
        b.statsChanged.connect(self.set_stats)
        # what the chart and the table work out of every row, worked out on the reader lane
        b.prepare_totals("chart", self.totals_chart.prepare_state, self.totals_chart.prepare)
        b.prepare_totals("clients", self.clients.prepare_state, self.clients.prepare)
        b.pendingChanged.connect(self.pending_panel.refresh)
        b.quarantineChanged.connect(self.quarantine_panel.refresh)
        self.pending_panel.bind(b)
        self.quarantine_panel.bind(b)
        b.textFinished.connect(lambda s: self.show_message(summary_text("Sent", s)))
        b.fileProgress.connect(self._on_file_progress)
        b.filesFinished.connect(self._on_files_finished)
        b.retryFinished.connect(self._on_retry_finished)
        b.resubmitFinished.connect(self._on_resubmit_finished)
        b.resetFinished.connect(self._on_reset_finished)
        b.exportFinished.connect(lambda p, n: self.show_message(f"Wrote {n:,} rows to {p}"))
        b.taskFailed.connect(self._on_task_failed)
        b.taskDone.connect(self._on_task_done)
        b.busyChanged.connect(self._on_busy)
        b.storageProblem.connect(self._on_storage_problem)
        b.countersChanged.connect(lambda c: self.storage_banner.set_pending(c.pending))
        self.storage_banner.retryRequested.connect(self.bridge.retry_pending)
        self.editor.sendRequested.connect(self.send_text)
        self.editor.sendAgainRequested.connect(self.send_again)
        self.editor.resubmitRequested.connect(self.resubmit)
        self.editor.filesDropped.connect(self.handle_dropped_files)
        self.editor.message.connect(self.show_message)
        self.log_view.openRecord.connect(self.open_record)
        self.explain_panel.attach(b, self.log_view, self.quarantine_panel, self.show_message)
        self.log_view.exportRequested.connect(self.export_log_dialog)
        self.log_view.follow.toggled.connect(self.follow_action.setChecked)
        self.clients.exportRequested.connect(lambda: self.export_dialog("clients-csv"))
        self.clients.schemaRequested.connect(self.open_schemas)
        self._connect_drilling()
        b.mappingsChanged.connect(self.clients.model.set_versions)
        self.fault_panel.changed.connect(self._on_fault_panel_changed)
        self.quarantine_panel.openInEditor.connect(self.fix_quarantined)
        self.quarantine_panel.resubmitAsIs.connect(lambda qid: self.resubmit(qid, None))
        self.pending_panel.retryRequested.connect(self.bridge.retry_pending)
        self.imports_panel.bind(b)
        self.imports_panel.message.connect(self.show_message)
        self.imports_panel.undoAvailable.connect(self.undo_import_action.setEnabled)
        self.imports_panel.undoFinished.connect(lambda r, _: self.log_view.model.mark_undone(r.uid))
        self.statusBar().addPermanentWidget(self.imports_panel.undo_status)
        self.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.serve_control.message.connect(self.show_message)
        self.serve_control.bind_wire_faults(self.fault_panel)

    def show_message(self, text: str) -> None:
        self.message.emit(text)

    @Slot(object)
    def set_stats(self, stats: list) -> None:
        # the chart and the table get the same snapshot, so they always agree
        if stats == getattr(self, "_shown_stats", None):
            return
        self._shown_stats = stats
        if self.bridge.busy:
            self._chart_stats = stats
            if not self._chart_timer.isActive():
                self._chart_timer.start(self.bridge.ms_until_phase(0.25))
            return
        self._chart_stats = self._table_stats = None
        self._chart_timer.stop()
        self._table_timer.stop()
        self.totals_chart.set_stats(stats)
        self.clients.set_stats(stats)

    def _phase_timer(self, name: str, slot) -> QTimer:
        timer = QTimer(self)
        timer.setObjectName(name)
        timer.setSingleShot(True)
        timer.timeout.connect(slot)
        return timer

    @Slot()
    def _show_chart_stats(self) -> None:
        stats, self._chart_stats = self._chart_stats, None
        if stats is not None:
            self.totals_chart.set_stats(stats)
            self._table_stats = stats  # the table shows the same snapshot as the chart
            self._table_timer.start(self.bridge.ms_until_phase(0.75))

    @Slot()
    def _show_table_stats(self) -> None:
        stats, self._table_stats = self._table_stats, None
        if stats is not None:
            self.clients.set_stats(stats)

    @Slot(str, bool)
    def send_text(self, text: str, anyway: bool = False) -> None:
        self.send_again_action.setEnabled(True)
        self.bridge.send_text(text, "pasted")

    @Slot()
    def send_again(self) -> None:
        if self.editor.last_sent is None:
            self.show_message("Nothing was sent yet")
            return
        self.bridge.send_text(self.editor.last_sent, "pasted")
        self.show_message("Sent the same text again: stored events come back as duplicates")

    def resubmit(self, qid: int, text: str | None) -> None:
        self.bridge.resubmit(qid, text)

    def fix_quarantined(self, entry) -> None:
        self.docks["editor"].show()
        self.docks["editor"].raise_()
        self.editor.start_fixing(entry.id, raw_text(entry.raw), entry.reason)

    @Slot(object)
    def open_record(self, record: OutcomeRecord) -> EventDialog:
        event = quarantine = None
        try:
            if record.event_id is not None and record.outcome in (Outcome.ACCEPTED,
                                                                   Outcome.DUPLICATE):
                event = self.service.event(record.event_id)
            if record.quarantine_id is not None:
                quarantine = self.service.quarantine_entry(record.quarantine_id)
        except Exception as exc:
            self.show_message(f"Could not read the event: {exc}")
        dialog = EventDialog(record, event, quarantine, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda *_: self._dialogs.remove(dialog)
                                if dialog in self._dialogs else None)
        self._dialogs.append(dialog)
        dialog.show()
        return dialog

    def open_schemas(self, client: str = "") -> SchemasDialog:
        """The Client schemas dialog (one per window), showing ``client`` when given."""
        dialog = self.schemas_dialog
        if dialog is None:
            dialog = SchemasDialog(self.bridge, self._known_clients, self)
            dialog.message.connect(self.show_message)
            dialog.saved.connect(self._on_mapping_saved)
            self.schemas_dialog = dialog
        if client:
            dialog.select_client(client)
        if dialog.isVisible():  # open already, perhaps behind the window
            dialog.raise_()
            dialog.activateWindow()
        else:
            dialog.show()
        return dialog

    def _known_clients(self) -> list[str]:
        stats = getattr(self, "_shown_stats", None) or []
        return sorted({r.client for r in stats}, key=str.casefold)

    @Slot(object)
    def _on_mapping_saved(self, _mapping) -> None:
        self.bridge.refresh()  # the clients table shows the new version

    def open_scenarios(self):
        """The Scenarios window (one per main window, not modal), brought to the front."""
        from .scenarios_window import ScenariosWindow

        if self.scenarios_window is None:
            self.scenarios_window = ScenariosWindow(self.settings, self)
        if self.scenarios_window.isVisible():  # open already, perhaps behind the window
            self.scenarios_window.raise_()
            self.scenarios_window.activateWindow()
        else:
            self.scenarios_window.show()
        return self.scenarios_window

    def play_demo(self, speed: float = 1.0):
        from .demo import DemoPlayer

        if getattr(self, "demo", None) is not None and self.demo.running:
            return self.demo
        self.demo = DemoPlayer(self, speed=speed)
        self.demo.start()
        return self.demo

    def _demo_playing(self, what: str) -> bool:
        """The demo's database is temporary: what the user means to keep must wait for theirs."""
        demo = getattr(self, "demo", None)
        if demo is None or not demo.running:
            return False
        self.show_message(f"The demo plays in a temporary database: stop it before {what}")
        return True

    def user_db_path(self) -> Path | str:
        """The user's database: during the demo the window shows a temporary one instead."""
        demo = getattr(self, "demo", None)
        if demo is not None and demo.user_service is not None:
            return demo.user_service.db_path
        return self.service.db_path

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_palette()
        super().changeEvent(event)

    def apply_palette(self) -> None:
        pal = self.palette()
        dark = is_dark(pal)
        self.totals_chart.apply_palette(pal)
        self.rate_chart.apply_palette(pal)
        self.log_view.model.update_colors(dark)
        self.editor.set_dark(dark)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save settings, stop the demo, cancel ingestion, wait for every thread. Idempotent."""
        if self._closing:
            return
        self._closing = True
        demo = getattr(self, "demo", None)
        if demo is not None:
            demo.stop()
        try:
            self.save_settings()
        except Exception:  # settings must never keep the window from closing
            pass
        for d in list(self._dialogs):
            d.close()
        if self.schemas_dialog is not None:
            self.schemas_dialog.close()
        if self.scenarios_window is not None:
            self.scenarios_window.shutdown()  # its engine is killed, its temporary database gone
        self._close_drilling()
        if self.open_failed_dialog is not None:
            self.open_failed_dialog.close()  # answers "keep the current database"
        self.editor._check_timer.stop()
        self._chart_timer.stop()
        self._table_timer.stop()
        self.rate_chart.stop_redraws()
        self.statusBar().clearMessage()  # stops the status bar's message timer
        self.serve_control.shutdown()  # requests under way finish while the engine still runs
        self.bridge.shutdown()
        if demo is not None:
            demo.discard()  # after the engine closed the demo's database
