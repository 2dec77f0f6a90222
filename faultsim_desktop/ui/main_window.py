"""The main window: docks, menus, toolbar, crash switch and status bar."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSizePolicy, QSplitter,
                               QToolBar, QToolButton, QVBoxLayout, QWidget)

from ..core.faults import FaultPoint
from ..core.model import Outcome, OutcomeRecord
from ..core.parsing import not_json_text
from ..core.service import IngestService, Summary, default_db_path
from ..core.dburl import is_postgres_url, label_of, parse_db, short_label, url_without_password
from .bridge import Counters, EngineBridge, FileProgress
from .charts import RateChart, TotalsChart
from .clients import ClientsView
from .dialogs import EventDialog
from .editor import EditorPanel
from .faults_panel import FaultPanel
from .log_view import LogView, write_log_csv
from .paths import icon_path, samples_dir
from .quarantine import PendingPanel, QuarantinePanel, raw_text
from .schemas import SchemasDialog
from .serve_control import ServeControl
from .storage import OpenFailedDialog, StorageBanner
from .theme import CRASH_RED, is_dark

MAX_RECENT = 8
SMALL_FILE = 2 << 20  # a single dropped file this small goes into the editor
STATE_VERSION = 1

_CRASH_STYLE = (f"QToolButton#crashSwitch {{ font-weight: 600; padding: 4px 10px; "
                f"border: 2px solid {CRASH_RED}; border-radius: 4px; }}"
                f"QToolButton#crashSwitch:checked {{ background: {CRASH_RED}; color: white; }}")


def remembered(db: Path | str) -> str:
    """What settings keep of a database: a path, or a URL without its password."""
    return url_without_password(db) if is_postgres_url(db) else str(db)


def summary_text(what: str, s: Summary) -> str:
    text = (f"{what}: {s.received:,} event{'s' if s.received != 1 else ''} — "
            f"{s.accepted:,} accepted, {s.duplicates:,} duplicates, {s.rejected:,} rejected")
    if s.failed:  # the counters count these by their final outcome once a retry settles them
        text += (f", {s.failed:,} failed into the pending outbox" +
                 (f" (it holds {s.pending:,} now)" if s.pending else
                  " (all sent again since; the counters show how they ended)"))
    elif s.pending:
        text += f"; {s.pending:,} wait in the pending outbox"
    if s.cancelled:
        text += " (cancelled: what was committed stays)"
    if s.refused:  # a file that is not JSON text: say what it looks like, not "1 rejected"
        text = "; ".join(s.refused) if s.received == len(s.refused) else \
            text + " — not read: " + "; ".join(s.refused)
    return text


class MainWindow(QMainWindow):
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
        self._dialogs: list[EventDialog] = []
        self.schemas_dialog: SchemasDialog | None = None
        self._closing = False
        self._switching = False  # True while use_service turns the crash switch off
        self.remember_db = True

        # -- widgets -----------------------------------------------------------------------
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

        self.docks: dict[str, QDockWidget] = {}
        self._dock("editor", "Event editor", self.editor, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("faults", "Crash simulation", self.fault_panel,
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("clients", "Clients", self.clients, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("log", "Live log", self.log_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("quarantine", "Quarantine", self.quarantine_panel,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("pending", "Pending", self.pending_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
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

    # -- construction helpers -------------------------------------------------------------
    @property
    def service(self) -> IngestService:
        return self.bridge.service

    def _dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}Dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _default_layout(self) -> None:
        d = self.docks
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["editor"])
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["faults"])
        self.splitDockWidget(d["editor"], d["faults"], Qt.Orientation.Vertical)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["clients"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["log"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["quarantine"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["pending"])
        self.tabifyDockWidget(d["log"], d["quarantine"])
        self.tabifyDockWidget(d["quarantine"], d["pending"])
        d["log"].raise_()
        self._docks_follow_window = True
        self._size_docks()

    def _size_docks(self) -> None:
        """Dock sizes in proportion to the window, so the default layout suits any screen: the
        charts keep the most room, the clients table room for its columns."""
        d = self.docks
        w, h = self.width(), self.height()
        clients = min(self.clients.preferred_width(), max(240, 280 + (w - 1024) * 0.6))
        self.resizeDocks([d["editor"], d["clients"]], [int(min(460, max(300, w * 0.2))),
                                                       int(clients)], Qt.Orientation.Horizontal)
        self.resizeDocks([d["editor"], d["faults"]], [h, h], Qt.Orientation.Vertical)
        self.resizeDocks([d["log"]], [int(min(300, max(190, h * 0.27)))], Qt.Orientation.Vertical)

    @Slot()
    def _stop_following(self, *args) -> None:
        self._docks_follow_window = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._docks_follow_window:
            self._size_docks()

    def eventFilter(self, watched, event) -> bool:
        if watched is self and event.type() == QEvent.Type.MouseButtonPress \
                and self.childAt(event.position().toPoint()) is None:
            self._docks_follow_window = False  # the user drags a separator: keep their sizes
        return super().eventFilter(watched, event)

    def _action(self, text: str, slot=None, shortcut=None, checkable=False, name=None,
                tip=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if checkable:
            a.setCheckable(True)
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        if name:
            a.setObjectName(name)
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        return a

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.new_db_action = self._action("&New database…", self.new_database, K.New)
        self.open_db_action = self._action("&Open database…", self.open_database, K.Open)
        self.open_pg_action = self._action(
            "Open &PostgreSQL database…", self.open_postgres, name="openPostgres",
            tip="Use a database on a PostgreSQL server (postgresql://USER@HOST/DBNAME)")
        self.open_files_action = self._action(
            "Open JSON &file(s)…", self.open_files, "Ctrl+Shift+O", name="openFiles",
            tip="Ingest JSON or NDJSON files in the background")
        self.load_editor_action = self._action("&Load file into editor…", self.load_into_editor,
                                               "Ctrl+L")
        self.export_csv_action = self._action("Events as &CSV…",
                                              lambda: self.export_dialog("events-csv"))
        self.export_ndjson_action = self._action("Events as &NDJSON…",
                                                 lambda: self.export_dialog("events-ndjson"))
        self.export_clients_action = self._action("&Per-client totals as CSV…",
                                                  lambda: self.export_dialog("clients-csv"))
        self.export_log_action = self._action("&Log as CSV…", self.export_log_dialog)
        self.export_png_action = self._action("Chart as P&NG…", self.export_chart_dialog)
        self.reset_action = self._action("&Reset database…", lambda: self.reset_database(True))
        self.quit_action = self._action("&Quit", self.close, K.Quit)

        self.send_action = self._action("&Send", lambda: self.editor.send(False), "Ctrl+Return",
                                        name="send", tip="Send the editor's events (Ctrl+Enter)")
        self.send_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.send_anyway_action = self._action("Send &anyway", lambda: self.editor.send(True),
                                               "Ctrl+Shift+Return")
        self.send_again_action = self._action("Send a&gain", self.send_again, "Ctrl+Shift+R",
                                              tip="Send the last text again: shows a retry caught "
                                                  "as a duplicate")
        self.send_again_action.setEnabled(False)
        self.format_action = self._action("&Format JSON", self.editor.format, "Ctrl+Shift+F")
        self.compact_action = self._action("&Compact JSON", self.editor.compact, "Ctrl+Shift+M")
        self.schemas_action = self._action(
            "Client &schemas…", lambda: self.open_schemas(), "Ctrl+Shift+S", name="schemasAction",
            tip="Map a client's fields explicitly (amount, units, currency, time, key), with a "
                "preview")
        self.cancel_action = self._action("Cancel &ingest", self.bridge.cancel_files, "Esc")
        self.cancel_action.setEnabled(False)

        self.crash_action = self._action("Simulate database crash", self.set_crash, "Ctrl+K",
                                         checkable=True, name="crashAction",
                                         tip="Turn the simulated database fault chosen in the Crash "
                                             "simulation panel on or off (Ctrl+K)")
        self.retry_action = self._action("&Retry pending now", self.bridge.retry_pending, "Ctrl+R")
        # triggered(checked=False) would arrive as speed=False: a demo 100 times slower
        self.demo_action = self._action("Play the &demo", lambda: self.play_demo(), "F5")
        self.follow_action = self._action("&Follow the log", self.log_view.set_following,
                                          "Ctrl+Shift+P", checkable=True)
        self.follow_action.setChecked(True)
        self.reset_layout_action = self._action("&Reset layout", self._default_layout)
        self.about_action = self._action("&About faultsim-desktop", self.about)
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts, "F1")
        for a in (self.send_action, self.send_anyway_action, self.send_again_action,
                  self.crash_action, self.retry_action, self.cancel_action):
            self.addAction(a)  # shortcuts work wherever the focus is

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.new_db_action)
        m.addAction(self.open_db_action)
        m.addAction(self.open_pg_action)
        m.addSeparator()
        m.addAction(self.open_files_action)
        m.addAction(self.load_editor_action)
        self.recent_menu = m.addMenu("Recent &files")
        m.addSeparator()
        ex = m.addMenu("&Export")
        for a in (self.export_csv_action, self.export_ndjson_action, self.export_clients_action,
                  self.export_log_action, self.export_png_action):
            ex.addAction(a)
        m.addSeparator()
        m.addAction(self.reset_action)
        m.addSeparator()
        m.addAction(self.quit_action)

        m = mb.addMenu("&Edit")
        m.addAction(self.send_action)
        m.addAction(self.send_anyway_action)
        m.addAction(self.send_again_action)
        m.addSeparator()
        m.addAction(self.format_action)
        m.addAction(self.compact_action)
        self.samples_menu = m.addMenu("Sa&mples")
        self.editor.populate_samples(self.samples_menu)
        m.addSeparator()
        m.addAction(self.schemas_action)
        m.addSeparator()
        m.addAction(self.cancel_action)

        m = mb.addMenu("&View")
        for dock in self.docks.values():
            m.addAction(dock.toggleViewAction())
        m.addSeparator()
        m.addAction(self.follow_action)
        m.addAction(self.reset_layout_action)

        m = mb.addMenu("&Simulate")
        m.addAction(self.crash_action)
        points = m.addMenu("Fault &point")
        group = QActionGroup(self)
        for i in range(self.fault_panel.point.count()):
            a = points.addAction(self.fault_panel.point.itemText(i))
            a.setCheckable(True)
            a.setData(i)
            group.addAction(a)
            a.triggered.connect(lambda checked=False, i=i: self.fault_panel.point.setCurrentIndex(i))
        self._point_actions = group
        m.addAction(self.retry_action)
        m.addSeparator()
        m.addAction(self.demo_action)

        m = mb.addMenu("&Help")
        m.addAction(self.shortcuts_action)
        m.addAction(self.about_action)
        self._update_recent_menu()

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main toolbar", self)
        tb.setObjectName("mainToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)
        tb.addAction(self.open_files_action)
        tb.addAction(self.send_action)
        tb.addAction(self.send_again_action)
        tb.addSeparator()
        self.crash_button = QToolButton(self)
        self.crash_button.setObjectName("crashSwitch")
        self.crash_button.setDefaultAction(self.crash_action)
        self.crash_button.setStyleSheet(_CRASH_STYLE)
        tb.addWidget(self.crash_button)
        tb.addAction(self.retry_action)
        tb.addSeparator()
        self.serve_control = ServeControl(lambda: self.service, self)
        tb.addWidget(self.serve_control)
        self.fault_panel.switch_button.setDefaultAction(self.crash_action)
        self.fault_panel.switch_button.setStyleSheet(_CRASH_STYLE.replace("crashSwitch",
                                                                          "panelCrashSwitch"))
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar(self)
        self.progress.setObjectName("ingestProgress")
        self.progress.setMaximumWidth(180)
        self.progress.setMinimumWidth(64)  # its tooltip and the message name the file
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelIngest")
        self.cancel_button.clicked.connect(self.bridge.cancel_files)
        self.cancel_button.hide()
        self.crash_label = QLabel("CRASH ON", self)  # the banner above the charts says more
        self.crash_label.setObjectName("crashStatus")
        self.crash_label.setStyleSheet(f"color: white; background: {CRASH_RED}; padding: 1px 6px;"
                                       " font-weight: 700;")
        self.crash_label.hide()
        self.counters_label = QLabel(self)
        self.counters_label.setObjectName("countersLabel")
        self.counters_label.setTextFormat(Qt.TextFormat.PlainText)
        # the counters are never cut: the database path and the messages give way first
        self.counters_label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.counters_label.setToolTip(
            "Events sent from this window, each counted once by its final outcome. An event "
            "whose commit happened is accepted, even when its acknowledgement was lost; failed "
            "counts events still waiting in the pending outbox, and a retry that settles one "
            "moves it to accepted, duplicates or rejected.")
        self.rate_label = QLabel(self)  # the rate and the writer's queue
        self.rate_label.setTextFormat(Qt.TextFormat.PlainText)
        self.db_label = QLabel(self)
        self.db_label.setObjectName("dbLabel")
        self.db_label.setTextFormat(Qt.TextFormat.PlainText)
        self.db_label.setMaximumWidth(360)
        self.db_label.setMinimumWidth(0)  # the window title names the database too
        self.db_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for w in (self.progress, self.cancel_button, self.crash_label, self.counters_label,
                  self.rate_label, self.db_label):
            sb.addPermanentWidget(w)
        self._last_counters = ""
        self.update_counters(Counters())

    def _connect(self) -> None:
        b = self.bridge
        b.outcomes.connect(self.log_view.append)
        b.countersChanged.connect(self.update_counters)
        b.countersChanged.connect(self.rate_chart.add_counters)
        b.statsChanged.connect(self.set_stats)
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
        self.log_view.exportRequested.connect(self.export_log_dialog)
        self.log_view.follow.toggled.connect(self.follow_action.setChecked)
        self.clients.exportRequested.connect(lambda: self.export_dialog("clients-csv"))
        self.clients.schemaRequested.connect(self.open_schemas)
        b.mappingsChanged.connect(self.clients.model.set_versions)
        self.fault_panel.changed.connect(self._on_fault_panel_changed)
        self.quarantine_panel.openInEditor.connect(self.fix_quarantined)
        self.quarantine_panel.resubmitAsIs.connect(lambda qid: self.resubmit(qid, None))
        self.pending_panel.retryRequested.connect(self.bridge.retry_pending)
        self.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.serve_control.message.connect(self.show_message)

    # -- settings --------------------------------------------------------------------------
    def restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = self.screen().availableGeometry()  # a first start on a small screen fits it
            self.resize(min(1440, screen.width()), min(900, screen.height()))
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty() \
                and self.restoreState(state, STATE_VERSION):
            # the user's own arrangement stays as it was; the default one keeps following
            self._docks_follow_window = s.value("window/docksFollow") in (True, "true")
        self.fault_panel.load(s)
        metric = s.value("chart/metric")
        if isinstance(metric, str) and self.totals_chart.metric_box.findText(metric) >= 0:
            self.totals_chart.metric_box.setCurrentText(metric)
        try:
            self.totals_chart.top_n.setValue(int(s.value("chart/top_n", 15)))
        except (TypeError, ValueError):
            pass

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(STATE_VERSION))
        s.setValue("window/docksFollow", self._docks_follow_window)
        if self.remember_db:
            s.setValue("database/last", remembered(self.user_db_path()))
        self.fault_panel.save(s)
        s.setValue("chart/metric", self.totals_chart.metric_box.currentText())
        s.setValue("chart/top_n", self.totals_chart.top_n.value())
        s.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_files(self, paths: list[str]) -> None:
        recent = self.recent_files()
        for p in reversed(paths):
            p = os.path.abspath(p)
            if p in recent:
                recent.remove(p)
            recent.insert(0, p)
        self.settings.setValue("recentFiles", recent[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for p in recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda checked=False, p=p: self.ingest_files([p]))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    # -- engine results -------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.message.emit(text)

    @Slot(list)
    def set_stats(self, stats: list) -> None:
        # the chart and the table get the same snapshot, so they always agree
        if stats == getattr(self, "_shown_stats", None):
            return
        self._shown_stats = stats
        self.totals_chart.set_stats(stats)
        self.clients.set_stats(stats)

    @Slot(object)
    def update_counters(self, c: Counters) -> None:
        text = (f"accepted {c.accepted:,} · duplicates {c.duplicates:,} · rejected "
                f"{c.rejected:,} · failed {c.failed:,} · pending {c.pending:,}")
        if text != self._last_counters:
            self._last_counters = text
            self.counters_label.setText(text)
        self.rate_label.setText(f"{c.events_per_s:,.0f}/s · queue {c.queue_depth:,}")
        self.counters = c
        self.fault_panel.show_injected(self.service.faults.injected_counts())

    @Slot(object)
    def _on_file_progress(self, p: FileProgress) -> None:
        self.progress.show()
        self.cancel_button.show()
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(1.0, p.done / p.total)))
            name = Path(p.path).name
            # the bar may be narrow: the file's name goes in the tooltip
            self.progress.setFormat("%p%" if p.count == 1 else f"{p.index + 1}/{p.count}: %p%")
            self.progress.setToolTip(f"Reading {name}" + (f", file {p.index + 1} of {p.count}"
                                                          if p.count > 1 else ""))
        else:
            self.progress.setRange(0, 0)

    @Slot(object)
    def _on_files_finished(self, s: Summary) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.show_message(summary_text("Files", s))

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.cancel_action.setEnabled(busy)
        for a in (self.new_db_action, self.open_db_action, self.reset_action):
            a.setEnabled(not busy)
        if not busy:
            self.progress.hide()
            self.cancel_button.hide()

    @Slot(object)
    def _on_retry_finished(self, s: Summary) -> None:
        if s.received:
            self.show_message(summary_text("Pending sent again", s))
        elif s.pending:
            self.show_message(f"{s.pending:,} events still pending")

    @Slot(int, object)
    def _on_resubmit_finished(self, qid: int, s: Summary) -> None:
        ok = s.received and s.accepted + s.duplicates == s.received
        self.show_message(summary_text(f"Quarantine #{qid} resubmitted", s)
                          + (" — resolved" if ok else " — still not accepted"))
        if ok and self.editor.fixing == qid:
            self.editor.stop_fixing()

    @Slot()
    def _on_reset_finished(self) -> None:
        self._shown_stats = None
        self.log_view.model.clear()
        self.show_message("The database was reset: every event, total, log row, quarantine "
                          "entry and pending event was deleted")

    @Slot(str, str)
    def _on_task_failed(self, what: str, message: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.show_message(f"{what} failed: {message}")
        if what in ("files", "text", "reset", "export", "resubmit") and not self._closing \
                and self.isVisible() and not os.environ.get("FAULTSIM_NO_DIALOGS"):
            box = QMessageBox(QMessageBox.Icon.Warning, "faultsim-desktop",
                              f"{what.capitalize()} failed", parent=self)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setInformativeText(message)
            box.open()

    @Slot(str, object)
    def _on_task_done(self, tag: str, result: object) -> None:
        if tag == "export-log":
            path, n = result  # type: ignore[misc]
            self.show_message(f"Wrote {n:,} log rows to {path}")

    # -- commands ---------------------------------------------------------------------------
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

    def ingest_files(self, paths: list[str]) -> None:
        paths = [str(p) for p in paths if p]
        if not paths:
            return
        if self.bridge.busy:
            self.show_message("Wait for the current ingest to finish (or cancel it)")
            return
        if self._demo_playing("ingesting files"):
            return
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            self.show_message(f"Cannot read {missing[0]}")
            return
        self._remember_files(paths)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress.show()
        self.cancel_button.show()
        self.bridge.ingest_files(paths)

    @Slot(list)
    def handle_dropped_files(self, paths: list[str]) -> None:
        if len(paths) == 1 and os.path.isfile(paths[0]) and os.path.getsize(paths[0]) <= SMALL_FILE:
            self.load_path_into_editor(paths[0])
        else:
            self.ingest_files(paths)

    def load_path_into_editor(self, path: str) -> None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            self.show_message(f"Cannot read {path}: {exc}")
            return
        refusal = not_json_text(data)
        if refusal is not None:  # an image or a text with no JSON: say so, keep the editor
            self.show_message(f"{path}: {refusal.message}")
            return
        self.editor.stop_fixing()
        self.editor.set_text(data.decode("utf-8", "replace"))
        self.show_message(f"Loaded {path} into the editor; Ctrl+Enter sends it")

    @Slot(bool)
    def set_crash(self, on: bool) -> None:
        faults = self.service.faults
        if on:
            self._apply_fault_config()
            faults.enabled = True
        else:
            faults.enabled = False
        if on:  # latency slows writes and fails none: the banner must not say crash
            slow = self.fault_panel.fault_point() is FaultPoint.LATENCY
            self.banner.setText(f"DATABASE LATENCY SIMULATION ON: WRITES DELAYED "
                                f"{self.fault_panel.latency.value():,} MS" if slow
                                else "DATABASE CRASH SIMULATION ON")
            self.crash_label.setText("LATENCY ON" if slow else "CRASH ON")
        self.banner.setVisible(on)
        self.crash_label.setVisible(on)
        if self.crash_action.isChecked() != on:
            self.crash_action.setChecked(on)
        if on:
            kind = "latency" if self.fault_panel.fault_point() is FaultPoint.LATENCY else "crash"
            self.show_message(f"Database {kind} simulation ON ({self.fault_panel.describe()}): "
                              f"{self.fault_panel.effect()}")
        else:
            self.show_message("Database crash simulation off: sending pending events again")
            if not self._switching:  # the engine being left must not get new work
                self.bridge.retry_pending()

    def _apply_fault_config(self) -> None:
        faults = self.service.faults
        faults.clear()
        faults.set(self.fault_panel.fault_point(), self.fault_panel.fault_config())
        faults.reseed(self.fault_panel.seed.value())

    @Slot()
    def _on_fault_panel_changed(self) -> None:
        self.apply_retry_policy()
        self._apply_fault_config()
        idx = self.fault_panel.point.currentIndex()
        for a in self._point_actions.actions():
            a.setChecked(a.data() == idx)

    def apply_retry_policy(self) -> None:
        self.bridge.set_retry_policy(self.fault_panel.retry_policy())

    def reset_database(self, confirm: bool = True) -> None:
        if self.bridge.busy:
            self.show_message("Wait for the current ingest to finish first")
            return
        if confirm:
            box = QMessageBox(QMessageBox.Icon.Warning, "Reset database",
                              "Delete every event, total, log row, quarantine entry and pending "
                              "event?", QMessageBox.StandardButton.Reset
                              | QMessageBox.StandardButton.Cancel, self)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setInformativeText(self.service.db_label)
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            if box.exec() != QMessageBox.StandardButton.Reset:
                return
        self.bridge.reset_database()

    # -- databases --------------------------------------------------------------------------
    def _show_db(self) -> None:
        path = self.service.db_label  # a URL's password is never shown
        self.db_label.setText(self.fontMetrics().elidedText(path, Qt.TextElideMode.ElideMiddle, 340))
        self.db_label.setToolTip(f"Database: {path}")
        self.setWindowTitle(f"faultsim-desktop — {short_label(self.service.db_path)}")

    def switch_database(self, path: Path | str) -> bool:
        if self.bridge.busy or self.bridge.ops_lane.busy:
            self.show_message("Wait for the running work to finish before switching databases")
            return False
        if self._demo_playing("switching databases"):
            return False
        factory = self.service_factory or (lambda p: IngestService(p))
        path = parse_db(str(path))  # a file path, or a PostgreSQL URL
        try:
            service = factory(path)
        except Exception as exc:  # StorageError explains itself
            self._offer_after_open_failure(exc, path)
            self.show_message(str(exc))
            return False
        self.use_service(service)
        return True

    def use_service(self, service: IngestService, *, remember: bool = True,
                    close_old: bool = True) -> IngestService:
        """Show ``service``'s database; returns the one shown before (closed unless
        ``close_old`` is False: the demo hands the user's back afterwards). Nothing may run."""
        if self.crash_action.isChecked():
            self._switching = True
            try:
                self.crash_action.setChecked(False)
            finally:
                self._switching = False
        serving = self.serve_control.suspend()  # HTTP requests must not reach a closed service
        old = self.bridge.replace_service(service, close_old=close_old)
        self.serve_control.resume(serving)
        self.service.faults.enabled = False
        self._apply_fault_config()
        self.apply_retry_policy()
        self.log_view.model.clear()
        self._show_db()
        if remember:
            self.settings.setValue("database/last", remembered(service.db_path))
            self.show_message(f"Opened database {label_of(service.db_path)}")
        self._drain_pending_on_open()
        return old

    def _offer_after_open_failure(self, exc: BaseException, path: Path | str) -> None:
        """The refused file stays as it was; the user picks a new database, another file, a
        second try, or keeps the current one (a window-modal dialog, answered asynchronously)."""
        if self.open_failed_dialog is not None:
            self.open_failed_dialog.close()
        dialog = OpenFailedDialog(exc, path, keep_current=True, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.open_failed_dialog = dialog

        def answered(_result: int) -> None:
            if self.open_failed_dialog is dialog:
                self.open_failed_dialog = None
            choice = dialog.choice()
            if choice == OpenFailedDialog.NEW:
                self.switch_database(dialog.new_path)
            elif choice == OpenFailedDialog.OPEN:
                self.open_database()
            elif choice == OpenFailedDialog.RETRY:
                self.switch_database(path)
        dialog.finished.connect(answered)
        dialog.open()

    @Slot(str, str)
    def _on_storage_problem(self, kind: str, message: str) -> None:
        self.storage_banner.set_problem(kind, message)
        if message:
            self.show_message(message)

    def _drain_pending_on_open(self) -> None:
        """Events left in the outbox by an earlier run are sent again when a database opens."""
        waiting = self.service.outbox.count()
        if waiting:
            self.show_message(f"{waiting:,} pending event(s) from an earlier run: sending again")
            self.bridge.retry_pending()

    def new_database(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New database", str(Path.home() / "faultsim.db"),
                                              "SQLite databases (*.db *.sqlite);;All files (*)")
        if path:
            if os.path.exists(path):
                self.show_message(f"{path} exists; use Open database to open it")
                return
            self.switch_database(Path(path))

    def open_database(self) -> None:
        current = self.service.db_path
        folder = (default_db_path() if is_postgres_url(current) else current).parent
        path, _ = QFileDialog.getOpenFileName(self, "Open database", str(folder),
                                              "SQLite databases (*.db *.sqlite);;All files (*)")
        if path:
            self.switch_database(Path(path))

    def open_postgres(self) -> None:
        current = self.service.db_path
        dialog = QInputDialog(self)
        dialog.setObjectName("openPostgresDialog")
        dialog.setWindowTitle("Open PostgreSQL database")
        dialog.setLabelText("URL of the database, e.g. postgresql://USER@HOST:5432/DBNAME\n"
                            "(a password is best kept in PGPASSWORD or ~/.pgpass)")
        dialog.setTextValue(remembered(current) if is_postgres_url(current)
                            else "postgresql://localhost/faultsim")
        dialog.resize(560, dialog.sizeHint().height())
        if dialog.exec() != QInputDialog.DialogCode.Accepted:
            return
        url = dialog.textValue().strip()
        if is_postgres_url(url):
            self.switch_database(url)
        else:
            self.show_message("A PostgreSQL URL starts with postgresql:// or postgres://")

    # -- files and exports -----------------------------------------------------------------
    def _last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open JSON files", self._last_dir(),
            "JSON (*.json *.ndjson *.jsonl *.txt);;All files (*)")
        if paths:
            self.ingest_files(paths)

    def load_into_editor(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load into editor", self._last_dir(),
                                              "JSON (*.json *.ndjson *.jsonl *.txt);;All files (*)")
        if path:
            if os.path.getsize(path) > SMALL_FILE * 8:
                self.show_message("That file is large: use Open JSON file(s) to ingest it")
                return
            self.load_path_into_editor(path)

    def export_dialog(self, kind: str) -> None:
        suffix = {"events-csv": "csv", "events-ndjson": "ndjson", "clients-csv": "csv"}[kind]
        name = {"events-csv": "events", "events-ndjson": "events", "clients-csv": "clients"}[kind]
        path, _ = QFileDialog.getSaveFileName(self, "Export", str(Path.home() / f"{name}.{suffix}"))
        if path:
            self.bridge.export(path, kind)

    def export_log_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export log", str(Path.home() / "log.csv"))
        if path:
            self.export_log(path)

    def export_log(self, path: str) -> None:
        records = self.log_view.model.rows()  # a copy of references, cheap on the GUI thread
        self.bridge.run_task("export-log", lambda: (path, write_log_csv(path, records)))

    def export_chart_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export chart", str(Path.home() / "chart.png"),
                                              "PNG images (*.png)")
        if path:
            self.export_chart(path)

    def export_chart(self, path: str) -> bool:
        ok = self.totals_chart.grab().save(path, "PNG")
        self.show_message(f"Saved the chart to {path}" if ok else f"Could not write {path}")
        return ok

    # -- the log's event dialog -------------------------------------------------------------
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

    # -- client schemas ---------------------------------------------------------------------
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

    # -- demo and help ----------------------------------------------------------------------
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

    def about(self) -> None:
        from .. import __version__

        box = QMessageBox(QMessageBox.Icon.Information, "About faultsim-desktop",
                          f"faultsim-desktop {__version__}\n\nIngests unreliable JSON events, "
                          "counts each exactly once, and survives database crashes.", parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()

    def show_shortcuts(self) -> None:
        rows = []
        for a in self.findChildren(QAction):
            if a.shortcut().isEmpty() or not a.text():
                continue
            rows.append(f"{a.shortcut().toString(QKeySequence.SequenceFormat.NativeText):<20}"
                        f"{a.text().replace('&', '')}")
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts",
                          "\n".join(sorted(set(rows))), parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()

    # -- events -----------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.ingest_files(paths)

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
        if self.open_failed_dialog is not None:
            self.open_failed_dialog.close()  # answers "keep the current database"
        self.editor._check_timer.stop()
        self.statusBar().clearMessage()  # stops the status bar's message timer
        self.serve_control.shutdown()  # requests under way finish while the engine still runs
        self.bridge.shutdown()
        if demo is not None:
            demo.discard()  # after the engine closed the demo's database
