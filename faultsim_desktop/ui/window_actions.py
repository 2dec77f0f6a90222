"""The window's actions, menus and toolbar: every command's text, shortcut and object name."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox, QToolBar, QToolButton

from .serve_control import ServeControl
from .theme import CRASH_RED

_CRASH_STYLE = (f"QToolButton#crashSwitch {{ font-weight: 600; padding: 4px 10px; "
                f"border: 2px solid {CRASH_RED}; border-radius: 4px; }}"
                f"QToolButton#crashSwitch:checked {{ background: {CRASH_RED}; color: white; }}")


class WindowActions:
    """Mixed into MainWindow: builds its actions, menu bar and toolbar, and lists the shortcuts."""

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
        self.undo_import_action = self._action(
            "&Undo import…", lambda: self.imports_panel.request_undo(), name="undoImportAction",
            tip="Take the import selected in the Imports panel back, as if never ingested")
        self.cancel_action = self._action("Cancel &ingest", self.bridge.cancel_files, "Esc")
        self.cancel_action.setEnabled(False)

        self.crash_action = self._action("Simulate database crash", self.set_crash, "Ctrl+K",
                                         checkable=True, name="crashAction",
                                         tip="Turn the simulated database fault chosen in the Crash "
                                             "simulation panel on or off (Ctrl+K)")
        self.retry_action = self._action("&Retry pending now", self.bridge.retry_pending, "Ctrl+R")
        # triggered(checked=False) would arrive as speed=False: a demo 100 times slower
        self.demo_action = self._action("Play the &demo", lambda: self.play_demo(), "F5")
        self.scenarios_action = self._action(
            "S&cenarios…", lambda: self.open_scenarios(), "Ctrl+F5", name="scenariosAction",
            tip="Play scripted scenarios of sends, faults and restarts, and judge the outcome")
        self.follow_action = self._action("&Follow the log", self.log_view.set_following,
                                          "Ctrl+Shift+P", checkable=True)
        self.follow_action.setChecked(True)
        self.reset_layout_action = self._action("&Reset layout", self._default_layout)
        self.explain_action = self._action(
            "E&xplain event…", self.explain_panel.focus_id_box, "Ctrl+E", name="explainAction",
            tip="Where an event came from: its fields, the rules that read them, its copies")
        self.history_action = self._action(
            "Client &history…", lambda: self.open_history(), "Ctrl+Shift+H", name="historyAction",
            tip="Cumulative totals over event time of the clients selected in the Clients table")
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
        m.addAction(self.undo_import_action)
        m.addAction(self.cancel_action)

        m = mb.addMenu("&View")
        for dock in self.docks.values():
            m.addAction(dock.toggleViewAction())
        m.addSeparator()
        m.addAction(self.explain_action)
        m.addAction(self.history_action)
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
        m.addAction(self.scenarios_action)

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

    def about(self) -> None:
        import sqlite3

        from .. import __version__, speedups, sqlite_library

        box = QMessageBox(QMessageBox.Icon.Information, "About faultsim-desktop",
                          f"faultsim-desktop {__version__}\n\nIngests unreliable JSON events, "
                          "counts each exactly once, and survives database crashes.\n\n"
                          f"Engine: {speedups.summary()}\n"
                          f"SQLite {sqlite3.sqlite_version}: {sqlite_library.status()}",
                          parent=self)
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
