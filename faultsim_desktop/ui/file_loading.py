"""JSON files into the window: the open dialogs, drops, the recent-files menu and the editor."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog

from ..core.parsing import not_json_text

MAX_RECENT = 8
SMALL_FILE = 2 << 20  # a single dropped file this small goes into the editor


class FileLoading:
    """Mixed into MainWindow: files go to the background ingest, or a small one into the editor."""

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

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.ingest_files(paths)
