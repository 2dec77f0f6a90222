"""The Export menu: events, per-client totals, the log and the chart, each to a file."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from .log_view import write_log_csv


class Exports:
    """Mixed into MainWindow: asks where, then writes in the background (the chart at once)."""

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
