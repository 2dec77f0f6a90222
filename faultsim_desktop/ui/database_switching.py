"""Opening, creating, switching and resetting the window's database."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from ..core.service import IngestService, default_db_path
from ..core.dburl import is_postgres_url, label_of, parse_db, short_label, url_without_password
from .db_banner import OpenFailedDialog


def remembered(db: Path | str) -> str:
    """What settings keep of a database: a path, or a URL without its password."""
    return url_without_password(db) if is_postgres_url(db) else str(db)


class DatabaseSwitching:
    """Mixed into MainWindow: the File menu's database commands and what a refused database
    offers next."""

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
