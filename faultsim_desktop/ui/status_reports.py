"""The status bar: live counters, file progress, and what each finished task reports."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QLabel, QMessageBox, QProgressBar, QPushButton, QSizePolicy,
                               QWidget)

from ..core.service import Summary
from .bridge import Counters, FileProgress
from .theme import CRASH_RED


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


def _width(w: QWidget) -> int:
    return min(w.sizeHint().width(), w.maximumWidth())


class StatusReports:
    """Mixed into MainWindow: builds the status bar and turns the engine's results into its
    messages, counters and progress."""

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
        sb.messageChanged.connect(self._fit_status_message)

    @Slot(str)
    def _fit_status_message(self, text: str | None = None) -> None:
        """A message in the status bar is never cut while the bar could show it whole: the
        rate and the database's name give way to it (the counters never do), and come back
        when it is gone. The message is the bar's tooltip too, for a bar too narrow even so."""
        sb = self.statusBar()
        if text is None:
            text = sb.currentMessage()
        sb.setToolTip(text)
        give_way = (self.rate_label, self.db_label)
        if not text:
            for w in give_way:
                w.setVisible(True)
            return
        spacing = 6  # QStatusBar's between its permanent widgets
        undo = getattr(getattr(self, "imports_panel", None), "undo_status", None)
        kept = [w for w in (self.progress, self.cancel_button, self.crash_label,
                            self.counters_label, undo) if w is not None and w.isVisibleTo(self)]
        # the room the message leaves for the widgets that may give way (and the size grip)
        room = (sb.width() - sum(_width(w) + spacing for w in kept) - 24
                - (20 if sb.isSizeGripEnabled() else 0)
                - sb.fontMetrics().horizontalAdvance(text))
        for w in give_way:
            fits = room >= _width(w) + spacing
            w.setVisible(fits)
            if fits:
                room -= _width(w) + spacing

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.statusBar().currentMessage():
            self._fit_status_message()

    @Slot(object)
    def update_counters(self, c: Counters) -> None:
        # beside a database that held other events, say whose the counts are
        text = (("this window: " if c.others else "") + f"accepted {c.accepted:,}"
                + (f" · undone {c.undone:,}" if c.undone else "")
                + f" · duplicates {c.duplicates:,} · rejected {c.rejected:,} · failed "
                f"{c.failed:,} · pending {c.pending:,}")
        if text != self._last_counters:
            self._last_counters = text
            self.counters_label.setText(text)
            if self.statusBar().currentMessage():
                self._fit_status_message()
        self.rate_label.setText(f"{c.events_per_s:,.0f}/s · queue {c.queue_depth:,}")
        self.counters = c
        self.fault_panel.show_injected(self.service.faults.injected_counts())

    @Slot(object)
    def _on_file_progress(self, p: FileProgress) -> None:
        self.progress.show()
        self.cancel_button.show()
        if p.total:
            self.progress.setRange(0, 1000)
            # QProgressBar.setValue repaints at once, and every widget waiting for a paint
            # (the log, the counters) with it: the event loop paints them a moment later
            self.progress.setUpdatesEnabled(False)
            self.progress.setValue(int(1000 * min(1.0, p.done / p.total)))
            self.progress.setUpdatesEnabled(True)
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
