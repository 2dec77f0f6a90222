"""The Explain panel: why an event (or a quarantined input) is what it is. Its raw text, the
canonical form and fingerprint, for each role the field it came from, the value there and the
rule that chose it, how the amount was read, its import, and every copy folded into it, each
linked back to its row in the live log.

Everything is read on the bridge's reader lane (core/explain.py through the service), so a
large database never freezes the window; a newer request drops the answer to an older one.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QIntValidator
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from ..core.explain import ROLES, Copy, Explanation, reading_text, show_value
from .theme import plain_tooltip

_COPY_COLUMNS = ("Outcome", "Received", "Source", "Line", "Attempt", "Import", "Quarantine")
_STAGES = {"parsing": "not valid JSON", "fingerprint": "no canonical form",
           "normalization": "rejected by normalization", "storage": "rejected when stored"}


class _WrappingTable(QTableWidget):
    """A table whose rows grow to show their wrapped text whenever its width changes."""

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.resizeRowsToContents()


def _label(parent: QWidget, name: str = "") -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)  # raw events are untrusted: never rich text
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def _item(text: str, tooltip: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    item.setToolTip(plain_tooltip(tooltip if tooltip is not None else text))
    return item


def _text_box(parent: QWidget, name: str) -> QPlainTextEdit:
    box = QPlainTextEdit(parent)
    box.setObjectName(name)
    box.setReadOnly(True)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return box


class ExplainPanel(QWidget):
    """Shows one explanation at a time, with Back and Forward through the ones shown.

    ``show_event(event_id)`` and ``show_quarantined(qid)`` are the entry points (the log, the
    quarantine and the drill-down call them); the window connects ``showCopyInLog`` and
    ``showEventInLog`` to the live log."""

    showCopyInLog = Signal(int, object)  # the explained event's id, the Copy
    showEventInLog = Signal(int)  # an event id: select its accepted row in the log
    explained = Signal(object)  # the Explanation now shown
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("explainPanel")
        self._bridge = None
        self._generation = 0
        self._history: list[tuple[str, int]] = []  # ("event" | "quarantine", id)
        self._at = -1
        self.current: Explanation | None = None

        self.back_button = QToolButton(self)
        self.back_button.setObjectName("explainBack")
        self.back_button.setText("◀")
        self.back_button.setToolTip("Back to the previous explanation")
        self.forward_button = QToolButton(self)
        self.forward_button.setObjectName("explainForward")
        self.forward_button.setText("▶")
        self.forward_button.setToolTip("Forward")
        self.id_box = QLineEdit(self)
        self.id_box.setObjectName("explainEventId")
        self.id_box.setPlaceholderText("Event #")
        self.id_box.setValidator(QIntValidator(1, 2**31 - 1, self))
        self.id_box.setMaximumWidth(self.fontMetrics().averageCharWidth() * 14 + 16)
        self.id_box.setToolTip("An event's id (the log and `faultsim explain` show it); Enter "
                               "explains it")
        self.explain_button = QPushButton("Explain", self)
        self.explain_button.setObjectName("explainGo")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.back_button)
        bar.addWidget(self.forward_button)
        bar.addWidget(self.id_box)
        bar.addWidget(self.explain_button)
        bar.addStretch(1)

        self.title = _label(self, "explainTitle")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        self.title.setText("Explain: double-click an event in the live log, or type its id")
        self.subtitle = _label(self, "explainSubtitle")
        self.problem = _label(self, "explainProblem")
        self.problem.setStyleSheet("color: #b26a00;")
        self.problem.hide()
        self.go_event_button = QPushButton(self)
        self.go_event_button.setObjectName("explainMatchedEvent")
        self.go_event_button.hide()

        self.fields = _WrappingTable(len(ROLES), 4, self)
        self.fields.setObjectName("explainFields")
        self.fields.setHorizontalHeaderLabels(["Role", "Field", "Value", "Rule"])
        self.fields.verticalHeader().setVisible(False)
        self.fields.setWordWrap(True)
        self.fields.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.fields.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.fields.horizontalHeader()
        header.setStretchLastSection(True)
        cw = self.fontMetrics().averageCharWidth()
        for col, chars in enumerate((8, 15, 11)):  # dotted field paths need the room
            self.fields.setColumnWidth(col, cw * chars + 12)
        self.fields.setMinimumHeight(self.fontMetrics().height() * 5)
        header.sectionResized.connect(lambda *_: self.fields.resizeRowsToContents())
        self.reading = _label(self, "explainReading")

        self.raw = _text_box(self, "explainRaw")
        self.canonical = _text_box(self, "explainCanonical")
        self.warnings = _text_box(self, "explainWarnings")
        self.copies = QTableWidget(0, len(_COPY_COLUMNS), self)
        self.copies.setObjectName("explainCopies")
        self.copies.setHorizontalHeaderLabels(list(_COPY_COLUMNS))
        self.copies.verticalHeader().setVisible(False)
        self.copies.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.copies.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.copies.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.copies.setWordWrap(False)
        self.copies.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.copies.horizontalHeader().setStretchLastSection(True)
        for col, chars in enumerate((12, 14, 16, 5, 7, 7)):
            self.copies.setColumnWidth(col, cw * chars + 12)
        self.copies.setToolTip("Double-click a copy to show its row in the live log")
        self.show_copy_button = QPushButton("Show in log", self)
        self.show_copy_button.setObjectName("explainShowCopy")
        self.show_copy_button.setToolTip("Select this copy's row in the live log")
        self.show_event_button = QPushButton("Show event in log", self)
        self.show_event_button.setObjectName("explainShowEvent")
        self.show_event_button.setToolTip("Select the event's own (accepted) row in the live log")
        copies_page = QWidget(self)
        cl = QVBoxLayout(copies_page)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.copies, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_event_button)
        buttons.addStretch(1)
        buttons.addWidget(self.show_copy_button)
        cl.addLayout(buttons)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("explainTabs")
        self.tabs.addTab(self.raw, "Raw")
        self.tabs.addTab(self.canonical, "Canonical")
        self.tabs.addTab(copies_page, "Copies")
        self.tabs.addTab(self.warnings, "Warnings")

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("explainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.fields)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)  # the fields and their rules get the most room
        self.splitter.setStretchFactor(1, 1)
        self.tabs.setMinimumHeight(self.fontMetrics().height() * 5)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.problem)
        layout.addWidget(self.go_event_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.reading)
        layout.addWidget(self.splitter, 1)

        self.back_button.clicked.connect(self.back)
        self.forward_button.clicked.connect(self.forward)
        self.explain_button.clicked.connect(self._explain_typed)
        self.id_box.returnPressed.connect(self._explain_typed)
        self.copies.doubleClicked.connect(lambda *_: self.show_selected_copy())
        self.show_copy_button.clicked.connect(self.show_selected_copy)
        self.show_event_button.clicked.connect(self._show_event_in_log)
        self.go_event_button.clicked.connect(self._go_matched_event)
        self.copies.itemSelectionChanged.connect(self._update_buttons)
        self._clear()

    def bind(self, bridge) -> None:
        """Read through the bridge; a new database starts the panel afresh."""
        self._bridge = bridge
        bridge.serviceChanged.connect(self._on_service_changed)

    def attach(self, bridge, log_view, quarantine_panel, show_message) -> None:
        """Wire the panel into the window: reads through ``bridge``; the live log and the
        quarantine open it, and its links select rows in the log."""
        self.bind(bridge)
        log_view.explainEvent.connect(self.show_event)
        log_view.explainQuarantined.connect(self.show_quarantined)
        log_view.notice.connect(show_message)
        quarantine_panel.explainRequested.connect(self.show_quarantined)
        self.showCopyInLog.connect(log_view.show_copy)
        self.showEventInLog.connect(log_view.go_to_event)
        self.message.connect(show_message)

    # -- entry points ---------------------------------------------------------------------

    @Slot(int)
    def show_event(self, event_id: int) -> None:
        """Explain stored event ``event_id`` (read in the background) and bring the panel to
        the front."""
        self._visit(("event", int(event_id)))

    @Slot(int)
    def show_quarantined(self, quarantine_id: int) -> None:
        """Explain quarantine entry ``quarantine_id``: what normalization makes of its raw
        text and why it was rejected."""
        self._visit(("quarantine", int(quarantine_id)))

    def focus_id_box(self) -> None:
        self._reveal()
        self.id_box.setFocus()
        self.id_box.selectAll()

    @Slot()
    def back(self) -> None:
        if self._at > 0:
            self._at -= 1
            self._load(self._history[self._at])

    @Slot()
    def forward(self) -> None:
        if self._at < len(self._history) - 1:
            self._at += 1
            self._load(self._history[self._at])

    def selected_copy(self) -> Copy | None:
        rows = self.copies.selectionModel().selectedRows()
        if not rows or self.current is None:
            return None
        return self.current.copies[rows[0].row()]

    @Slot()
    def show_selected_copy(self) -> None:
        copy = self.selected_copy()
        if copy is not None and self.current is not None:
            self.showCopyInLog.emit(self.current.event_id, copy)

    # -- reading --------------------------------------------------------------------------

    def _visit(self, target: tuple[str, int]) -> None:
        shown = 0 <= self._at < len(self._history) and self._history[self._at] == target
        exp = self.current
        if shown and exp is not None and target == (
                ("event", exp.event_id) if exp.event_id is not None
                else ("quarantine", exp.quarantine_id)):
            self._reveal()  # shown already: nothing to read again
            return
        if not shown:
            del self._history[self._at + 1:]
            self._history.append(target)
            self._at = len(self._history) - 1
        self._load(target)

    def _load(self, target: tuple[str, int]) -> None:
        self._reveal()
        self._update_buttons()
        kind, ident = target
        self.id_box.setText(str(ident) if kind == "event" else "")
        if self._bridge is None:
            return
        self._generation += 1
        generation = self._generation
        svc = self._bridge.service
        what = f"event #{ident}" if kind == "event" else f"quarantine entry #{ident}"
        self.title.setText(f"Explaining {what}…")
        read = svc.explain_event if kind == "event" else svc.explain_quarantined

        def done(exp) -> None:
            if generation == self._generation:
                self._show(exp, what)

        def failed(message: str) -> None:
            if generation == self._generation:
                self._clear()
                self.title.setText(f"Could not explain {what}")
                self.problem.setText(f"Could not read the database: {message}")
                self.problem.show()
        self._bridge.read(lambda: read(ident), done, failed)

    @Slot(object)
    def _on_service_changed(self, _service) -> None:
        self._generation += 1
        self._history.clear()
        self._at = -1
        self._clear()

    def _explain_typed(self) -> None:
        text = self.id_box.text().strip()
        if text.isdigit():
            self.show_event(int(text))

    def _reveal(self) -> None:
        widget = self.parentWidget()
        while widget is not None and not isinstance(widget, QDockWidget):
            widget = widget.parentWidget()
        if widget is not None:
            widget.show()
            widget.raise_()

    # -- showing --------------------------------------------------------------------------

    def _clear(self) -> None:
        self.current = None
        self.subtitle.clear()
        self.problem.hide()
        self.go_event_button.hide()
        for row, role in enumerate(ROLES):
            self.fields.setItem(row, 0, _item(role))
            for col in (1, 2, 3):
                self.fields.setItem(row, col, _item(""))
        self.reading.clear()
        self.raw.clear()
        self.canonical.clear()
        self.warnings.clear()
        self.copies.setRowCount(0)
        self.tabs.setTabText(2, "Copies")
        self.tabs.setTabText(3, "Warnings")
        self._update_buttons()

    def _show(self, exp: Explanation | None, what: str) -> None:
        self._clear()
        if exp is None:
            self.title.setText(f"There is no {what}")
            self.problem.setText("It was never stored, or the database was reset since.")
            self.problem.show()
            return
        self.current = exp
        if exp.event_id is not None:
            s = exp.stored
            self.title.setText(f"Event #{exp.event_id}: {s['client']}, {s['amount']}"
                               + (f" {s['currency']}" if s["currency"] else ""))
            r = exp.received
            lines = [f"Received {r['received_at'][:23].replace('T', ' ')} from {r['source']}, "
                     f"line {r['line']}"]
        else:
            rej = exp.rejection or {}
            self.title.setText(f"Quarantine entry #{exp.quarantine_id}: "
                               f"{_STAGES.get(rej.get('stage'), 'rejected')}")
            r = exp.received
            lines = [f"From {r['source']}, line {r['line']}, column {r['column']}"]
            self.problem.setText(f"{rej.get('code')}: {rej.get('message')} (line "
                                 f"{rej.get('line')}, column {rej.get('column')})")
            self.problem.show()
            if exp.matched_event is not None:
                self.go_event_button.setText(f"Go to event #{exp.matched_event}")
                self.go_event_button.show()
        full = list(lines)
        if exp.import_:
            imp = exp.import_
            undone = f", undone {imp['undone_at'][:19]}" if imp.get("undone_at") else ""
            lines[0] += f" · import #{imp['id']} ({imp['kind']}{undone})"
            full.append(f"Import #{imp['id']}: {imp['kind']} {imp['source']}, started "
                        f"{imp['started_at']}{undone}")
        second = []
        if exp.mapping:
            # the mapping's fields are in the rules below; the whole line is in the tooltip
            second.append(f"normalized by {exp.mapping.split(':', 1)[0]}")
            full.append(f"Normalized by {exp.mapping}")
        if exp.fingerprint:
            second.append(f"fingerprint {exp.fingerprint[:12]}…")
            full.append(f"Fingerprint {exp.fingerprint}")
        if second:
            lines.append(" · ".join(second).capitalize())
        self.subtitle.setText("\n".join(lines))
        self.subtitle.setToolTip(plain_tooltip("\n".join(full)))
        if exp.differences:
            self.problem.setText("The rules today disagree with the stored row: "
                                 + "; ".join(exp.differences))
            self.problem.show()
        for row, role in enumerate(ROLES):
            f = exp.fields[role]
            present = f["field"] is not None
            self.fields.setItem(row, 1, _item(f["field"] if present else "—"))
            self.fields.setItem(row, 2, _item(show_value(f["value"]) if present
                                              or f["value"] is not None else "—"))
            self.fields.setItem(row, 3, _item(f["rule"]))
        self.fields.resizeRowsToContents()
        # the fields take what their rows need; the tabs below get the rest
        needed = (self.fields.horizontalHeader().height() + 2 * self.fields.frameWidth()
                  + sum(self.fields.rowHeight(r) for r in range(len(ROLES))))
        total = sum(self.splitter.sizes())
        if total > needed:
            self.splitter.setSizes([needed, total - needed])
        reading = exp.fields["amount"].get("reading")
        self.reading.setText(f"Amount read: {reading_text(reading)}" if reading else "")
        raw = exp.raw.decode("utf-8", "replace") if isinstance(exp.raw, bytes) else exp.raw
        self.raw.setPlainText(raw)
        self.canonical.setPlainText(
            f"{exp.canonical}\n\nFingerprint (SHA-256 of these bytes):\n{exp.fingerprint}"
            if exp.canonical is not None else "(not a JSON object: it has no canonical form)")
        self.warnings.setPlainText("\n".join(exp.warnings) or "(none)")
        self.tabs.setTabText(3, f"Warnings ({len(exp.warnings)})")
        self.copies.setRowCount(len(exp.copies))
        for row, c in enumerate(exp.copies):
            # month, day and time: the year is in the tooltip, the column stays narrow
            for col, text in enumerate((c.outcome, c.at[5:19].replace("T", " "), c.source,
                                        str(c.line), str(c.attempt),
                                        f"#{c.import_id}" if c.import_id else "",
                                        f"#{c.quarantine_id}" if c.quarantine_id else "")):
                self.copies.setItem(row, col, _item(text, f"{c.outcome} {c.at}, {c.source}, "
                                                          f"line {c.line}\n\n{c.reason}"))
        self.tabs.setTabText(2, f"Copies ({len(exp.copies)})")
        self.tabs.setTabVisible(2, exp.event_id is not None)  # only a stored event has copies
        self._update_buttons()
        self.explained.emit(exp)

    def _update_buttons(self) -> None:
        self.back_button.setEnabled(self._at > 0)
        self.forward_button.setEnabled(self._at < len(self._history) - 1)
        is_event = self.current is not None and self.current.event_id is not None
        self.show_event_button.setEnabled(is_event)
        self.show_copy_button.setEnabled(is_event and self.selected_copy() is not None)

    def _show_event_in_log(self) -> None:
        if self.current is not None and self.current.event_id is not None:
            self.showEventInLog.emit(self.current.event_id)

    def _go_matched_event(self) -> None:
        if self.current is not None and self.current.matched_event is not None:
            event_id = self.current.matched_event
            self.show_event(event_id)
            self.showEventInLog.emit(event_id)
