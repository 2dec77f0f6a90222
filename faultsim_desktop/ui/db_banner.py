"""Real storage problems in the window: a banner while one lasts, and a choice when a database
cannot be opened (a new database, another file, or quit) that never touches the refused file."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from ..core.dburl import is_postgres_url, label_of

AMBER = "#b45309"


class StorageBanner(QWidget):
    """Shows the current storage problem and how many events wait in the pending outbox."""

    retryRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("storageBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"QWidget#storageBanner {{ background: {AMBER}; }}"
                           "QLabel { color: white; font-weight: 600; }")
        self.label = QLabel(self)
        self.label.setObjectName("storageMessage")
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # paths are not markup
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton("Retry pending", self)
        self.retry_button.setObjectName("storageRetry")
        self.retry_button.clicked.connect(self.retryRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.retry_button)
        self.kind = ""
        self.message = ""
        self.pending = 0
        self.hide()

    def set_problem(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, message
        self._render()
        self.setVisible(bool(message))

    def set_pending(self, n: int) -> None:
        if n != self.pending:
            self.pending = n
            self._render()

    def _render(self) -> None:
        if not self.message:
            return
        waiting = (f"{self.pending:,} event{'s' if self.pending != 1 else ''} wait"
                   f"{'s' if self.pending == 1 else ''} in the pending outbox."
                   if self.pending else "No event is waiting in the pending outbox.")
        self.label.setText(f"{self.message}\n{waiting}")
        self.retry_button.setText(f"Retry pending ({self.pending:,})" if self.pending
                                  else "Retry pending")
        self.retry_button.setEnabled(bool(self.pending))


def new_database_path(refused: Path | str) -> Path:
    """A name beside the refused file that does not exist yet: creating it overwrites nothing.
    For a refused PostgreSQL database: a new SQLite file in the user's data folder."""
    from ..core.service import default_db_path

    refused = Path(default_db_path() if is_postgres_url(refused) else refused)
    folder = refused.parent
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        folder = default_db_path().parent
    stem, suffix = refused.stem, refused.suffix or ".db"
    for n in range(1, 10_000):
        candidate = folder / (f"{stem}-new{suffix}" if n == 1 else f"{stem}-new-{n}{suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"no free name for a new database in {folder}")


class OpenFailedDialog(QMessageBox):
    """Why a database did not open, and what to do: create a new database (at a new path),
    choose another file, try again, or quit (or keep the current one). The refused file is
    never written."""

    NEW, OPEN, RETRY, QUIT = "new", "open", "retry", "quit"

    def __init__(self, error: BaseException, path: Path | str, *, keep_current: bool = False,
                 parent=None):
        super().__init__(QMessageBox.Icon.Critical, "Cannot open the database", str(error),
                         parent=parent)
        self.setObjectName("openFailedDialog")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.path = path if is_postgres_url(path) else Path(path)
        self.new_path = new_database_path(self.path)
        kind = getattr(error, "kind", "")
        self.setInformativeText(
            f"{label_of(self.path)} was not changed. Create a new database at {self.new_path}, "
            "choose another file, "
            + ("try again, " if kind in ("locked", "readonly", "open", "missing") else "")
            + ("or keep the current database." if keep_current else "or quit."))
        self.new_button = self.addButton("Create a new database",
                                         QMessageBox.ButtonRole.AcceptRole)
        self.new_button.setToolTip(str(self.new_path))
        self.open_button = self.addButton("Choose another file…",
                                          QMessageBox.ButtonRole.ActionRole)
        self.retry_button = None
        if kind in ("locked", "readonly", "open", "missing"):
            self.retry_button = self.addButton("Try again", QMessageBox.ButtonRole.ActionRole)
        self.quit_button = self.addButton(
            "Keep the current database" if keep_current else "Quit",
            QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.new_button)
        self.setEscapeButton(self.quit_button)

    def choice(self) -> str:
        clicked = self.clickedButton()
        if clicked is self.new_button:
            return self.NEW
        if clicked is self.open_button:
            return self.OPEN
        if clicked is not None and clicked is self.retry_button:
            return self.RETRY
        return self.QUIT

