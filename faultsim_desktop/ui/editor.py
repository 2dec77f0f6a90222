"""The event editor: line numbers, JSON highlighting, live validation, Format/Compact, Send."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (QColor, QFont, QFontDatabase, QPainter, QPalette, QSyntaxHighlighter,
                           QTextCharFormat, QTextCursor, QTextFormat)
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMenu, QPlainTextEdit, QPushButton,
                               QTextEdit, QToolButton, QVBoxLayout, QWidget)

from ..core.model import Rejection
from .jsonfmt import compact_text, format_text
from .theme import is_dark

LIVE_CHECK_LIMIT = 5_000_000  # characters; beyond this the text is checked when sent
_SYNTAX_CODES = None  # every rejection split_text reports is about the text itself


@dataclass
class Validation:
    generation: int
    events: int
    rejected: int
    first_error: Rejection | None


def validate(text: str, generation: int) -> Validation:
    """Split the text as the engine will; count events and find the first problem."""
    from ..core.parsing import split_text

    candidates = split_text(text)
    events = sum(1 for c in candidates if c.rejection is None)
    errors = [c.rejection for c in candidates if c.rejection is not None]
    return Validation(generation, events, len(errors), errors[0] if errors else None)


class _LineNumbers(QWidget):
    def __init__(self, editor: "CodeEditor"):
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self) -> QSize:
        return QSize(self.editor.line_number_width(), 0)

    def paintEvent(self, event) -> None:
        self.editor.paint_line_numbers(event)


class JsonHighlighter(QSyntaxHighlighter):
    _TOKENS = re.compile(
        r'(?P<key>"(?:[^"\\]|\\.)*"(?=\s*:))|(?P<str>"(?:[^"\\]|\\.)*"?)'
        r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<kw>\b(?:true|false|null)\b)"
        r"|(?P<bad>\b(?:NaN|Infinity)\b|')")

    def __init__(self, document):
        super().__init__(document)
        self.formats: dict[str, QTextCharFormat] = {}
        self.set_dark(is_dark())

    def set_dark(self, dark: bool) -> None:
        colors = ({"key": "#82aaff", "str": "#c3e88d", "num": "#f78c6c", "kw": "#c792ea",
                   "bad": "#ff5370"} if dark else
                  {"key": "#0b4f9c", "str": "#1b7f3a", "num": "#a04a00", "kw": "#7b1fa2",
                   "bad": "#c62828"})
        self.formats = {}
        for name, color in colors.items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(color))
            if name == "key":
                fmt.setFontWeight(QFont.Weight.DemiBold)
            self.formats[name] = fmt
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        if len(text) > 20_000:  # a giant line is left plain: highlighting must stay instant
            return
        for m in self._TOKENS.finditer(text):
            kind = m.lastgroup
            self.setFormat(m.start(), m.end() - m.start(), self.formats[kind])


class CodeEditor(QPlainTextEdit):
    """A plain-text editor with a line-number gutter; file drops are passed to the window."""

    filesDropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("codeEditor")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * 2)
        self._gutter = _LineNumbers(self)
        self.highlighter = JsonHighlighter(self.document())
        self.blockCountChanged.connect(self._update_margins)
        self.updateRequest.connect(self._update_gutter)
        self._update_margins()
        self._error_selections: list[QTextEdit.ExtraSelection] = []

    def line_number_width(self) -> int:
        digits = max(3, len(str(self.blockCount())))
        return 10 + self.fontMetrics().horizontalAdvance("9") * digits

    @Slot(int)
    def _update_margins(self, *args) -> None:
        self.setViewportMargins(self.line_number_width(), 0, 0, 0)

    def _update_gutter(self, rect, dy) -> None:
        if dy:
            self._gutter.scroll(0, dy)
        else:
            self._gutter.update(0, rect.y(), self._gutter.width(), rect.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        cr = self.contentsRect()
        self._gutter.setGeometry(QRect(cr.left(), cr.top(), self.line_number_width(), cr.height()))

    def paint_line_numbers(self, event) -> None:
        painter = QPainter(self._gutter)
        pal = self.palette()
        painter.fillRect(event.rect(), pal.color(QPalette.ColorRole.AlternateBase))
        block = self.firstVisibleBlock()
        number = block.blockNumber()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        bottom = top + round(self.blockBoundingRect(block).height())
        height = self.fontMetrics().height()
        error_line = getattr(self, "_error_line", None)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        while block.isValid() and top <= event.rect().bottom():
            if block.isVisible() and bottom >= event.rect().top():
                if error_line == number + 1:
                    painter.setPen(QColor("#e53935"))
                else:
                    painter.setPen(muted)
                painter.drawText(0, top, self._gutter.width() - 5, height,
                                 Qt.AlignmentFlag.AlignRight, str(number + 1))
            block = block.next()
            top = bottom
            bottom = top + round(self.blockBoundingRect(block).height())
            number += 1

    def mark_error(self, line: int | None, column: int | None) -> None:
        selections = []
        self._error_line = line
        if line is not None:
            block = self.document().findBlockByNumber(max(0, line - 1))
            if block.isValid():
                whole = QTextEdit.ExtraSelection()
                fmt = QTextCharFormat()
                fmt.setBackground(QColor(229, 57, 53, 40))
                fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
                whole.format = fmt
                cur = QTextCursor(block)
                whole.cursor = cur
                selections.append(whole)
                col = max(1, column or 1)
                pos = block.position() + min(col - 1, max(0, block.length() - 1))
                at = QTextEdit.ExtraSelection()
                afmt = QTextCharFormat()
                afmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
                afmt.setUnderlineColor(QColor("#e53935"))
                afmt.setBackground(QColor(229, 57, 53, 110))
                at.format = afmt
                c2 = QTextCursor(self.document())
                c2.setPosition(pos)
                c2.movePosition(QTextCursor.MoveOperation.NextCharacter,
                                QTextCursor.MoveMode.KeepAnchor)
                if not c2.hasSelection():
                    c2.movePosition(QTextCursor.MoveOperation.PreviousCharacter,
                                    QTextCursor.MoveMode.KeepAnchor)
                at.cursor = c2
                selections.append(at)
        self._error_selections = selections
        self.setExtraSelections(selections)
        self._gutter.update()

    def canInsertFromMimeData(self, source) -> bool:
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source) -> None:
        files = [u.toLocalFile() for u in source.urls() if u.isLocalFile()] if source.hasUrls() else []
        if files:
            self.filesDropped.emit(files)
            return
        super().insertFromMimeData(source)


class EditorPanel(QWidget):
    """The editor with its tool row and validation line."""

    sendRequested = Signal(str, bool)  # text, anyway (send despite errors)
    sendAgainRequested = Signal()
    resubmitRequested = Signal(int, str)
    filesDropped = Signal(list)
    validated = Signal(object)  # Validation
    message = Signal(str)

    def __init__(self, bridge, samples_dir: Path | None, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.samples_dir = samples_dir
        self.editor = CodeEditor(self)
        self.editor.setPlaceholderText(
            "Paste JSON events here: one object, an array, or one object per line (NDJSON).\n"
            "Ctrl+Enter sends them. Samples are in the Samples menu.")
        self.editor.filesDropped.connect(self.filesDropped)

        self.samples_button = QToolButton(self)
        self.samples_button.setText("Samples")
        self.samples_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.samples_menu = QMenu("Samples", self)
        self.samples_button.setMenu(self.samples_menu)
        # Format, with Compact under its arrow: one button keeps the row narrow enough for a
        # small screen's dock
        self.format_button = QToolButton(self)
        self.format_button.setText("Format")
        self.format_button.setToolTip("Indent the JSON (the arrow offers Compact)")
        self.format_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        format_menu = QMenu(self.format_button)
        format_menu.addAction("Format JSON", self.format)
        self.compact_menu_action = format_menu.addAction("Compact JSON", self.compact)
        self.format_button.setMenu(format_menu)
        self.send_again_button = QToolButton(self)  # a tool button: the row fits a narrow dock
        self.send_again_button.setText("Send again")
        self.send_again_button.setEnabled(False)
        self.send_again_button.setToolTip("Send the last text again: a retry is caught as a duplicate")
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.setToolTip("Send the events to the engine (Ctrl+Enter)")

        self.fix_bar = QWidget(self)
        self.fix_label = QLabel(self.fix_bar)
        self.fix_label.setTextFormat(Qt.TextFormat.PlainText)
        self.fix_label.setWordWrap(True)
        self.resubmit_button = QPushButton("Resubmit fix", self.fix_bar)
        self.stop_fix_button = QPushButton("Stop fixing", self.fix_bar)
        fix_row = QHBoxLayout(self.fix_bar)
        fix_row.setContentsMargins(0, 0, 0, 0)
        fix_row.addWidget(self.fix_label, 1)
        fix_row.addWidget(self.resubmit_button)
        fix_row.addWidget(self.stop_fix_button)
        self.fix_bar.hide()

        self.error_label = QLabel(self)
        self.error_label.setObjectName("editorError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e53935; font-weight: 600;")
        self.error_label.hide()
        self.count_label = QLabel("empty", self)
        self.count_label.setObjectName("eventCount")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.send_anyway_button = QPushButton("Send anyway", self)
        self.send_anyway_button.setToolTip(
            "Send despite the errors: the valid events are stored, the invalid ones quarantined")
        self.send_anyway_button.hide()

        tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        tools.addWidget(self.samples_button)
        tools.addWidget(self.format_button)
        tools.addStretch(1)
        tools.addWidget(self.send_again_button)
        tools.addWidget(self.send_button)
        status = QHBoxLayout()
        status.setContentsMargins(0, 0, 0, 0)
        status.addWidget(self.count_label)
        status.addWidget(self.error_label, 1)
        status.addWidget(self.send_anyway_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(tools)
        layout.addWidget(self.fix_bar)
        layout.addWidget(self.editor, 1)
        layout.addLayout(status)

        self._generation = 0
        self._validation: Validation | None = None
        self._fixing: int | None = None
        self.last_sent: str | None = None
        self._check_timer = QTimer(self)
        self._check_timer.setObjectName("editor-validate")
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(200)
        self._check_timer.timeout.connect(self._start_validation)
        self.editor.textChanged.connect(self._on_text_changed)
        self.format_button.clicked.connect(self.format)
        self.send_button.clicked.connect(lambda: self.send(False))
        self.send_anyway_button.clicked.connect(lambda: self.send(True))
        self.send_again_button.clicked.connect(self.sendAgainRequested)
        self.resubmit_button.clicked.connect(lambda: self.send(True))
        self.stop_fix_button.clicked.connect(self.stop_fixing)
        bridge.taskDone.connect(self._on_task_done)
        self.populate_samples()

    def sample_files(self) -> list[Path]:
        if self.samples_dir is None or not self.samples_dir.is_dir():
            return []
        return sorted(p for p in self.samples_dir.iterdir()
                      if p.suffix in (".json", ".ndjson", ".jsonl"))

    def populate_samples(self, menu: QMenu | None = None) -> None:
        menu = menu or self.samples_menu
        menu.clear()
        files = self.sample_files()
        for path in files:
            title = path.stem.replace("_", " ").capitalize()
            action = menu.addAction(title)
            action.setData(str(path))
            action.triggered.connect(lambda checked=False, p=path: self.load_sample(p))
        if not files:
            menu.addAction("(no samples found)").setEnabled(False)

    def load_sample(self, path: Path | str) -> None:
        self.stop_fixing()
        self.set_text(Path(path).read_text(encoding="utf-8"))

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text)

    @property
    def validation(self) -> Validation | None:
        return self._validation

    @property
    def has_error(self) -> bool:
        v = self._validation
        return v is not None and v.first_error is not None

    def _on_text_changed(self) -> None:
        self._generation += 1
        self._validation = None
        self._check_timer.start()

    @Slot()
    def _start_validation(self) -> None:
        text = self.text()
        gen = self._generation
        if not text.strip():
            self._show_validation(Validation(gen, 0, 0, None))
            return
        if len(text) > LIVE_CHECK_LIMIT:
            self.count_label.setText(f"{len(text):,} characters: checked when sent")
            return
        self.bridge.run_task("validate", lambda: validate(text, gen), lane="check")

    @Slot(str, object)
    def _on_task_done(self, tag: str, result: object) -> None:
        if tag == "validate" and isinstance(result, Validation):
            if result.generation == self._generation:
                self._show_validation(result)

    def _show_validation(self, v: Validation) -> None:
        self._validation = v
        if v.events == 0 and v.rejected == 0:
            self.count_label.setText("empty")
        else:
            parts = [f"{v.events:,} event{'s' if v.events != 1 else ''}"]
            if v.rejected:
                parts.append(f"{v.rejected:,} invalid")
            self.count_label.setText(", ".join(parts))
        err = v.first_error
        if err is None:
            self.error_label.hide()
            self.error_label.setText("")
            self.send_anyway_button.hide()
            self.editor.mark_error(None, None)
        else:
            self.error_label.setText(str(err))
            self.error_label.show()
            self.send_anyway_button.setVisible(v.events > 0 or self._fixing is not None)
            self.editor.mark_error(err.line, err.column)
        self.validated.emit(v)

    def validate_now(self) -> Validation:
        """Check the text at once (used before sending and by tests)."""
        self._check_timer.stop()
        v = validate(self.text(), self._generation)
        self._show_validation(v)
        return v

    @Slot()
    def format(self) -> None:
        self._reformat(format_text)

    @Slot()
    def compact(self) -> None:
        self._reformat(compact_text)

    def _reformat(self, fn) -> None:
        try:
            new = fn(self.text())
        except ValueError:
            self.message.emit("Fix the JSON errors first: Format and Compact need valid JSON")
            return
        cursor = self.editor.textCursor()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(new)  # one undo step

    def send(self, anyway: bool = False) -> None:
        text = self.text()
        if not text.strip():
            self.message.emit("Nothing to send: the editor is empty")
            return
        v = self._validation
        if v is None or v.generation != self._generation:
            v = self.validate_now() if len(text) <= LIVE_CHECK_LIMIT else None
        if v is not None and v.first_error is not None and not anyway:
            self.message.emit(f"Not sent: {v.first_error}")
            return
        if self._fixing is not None:
            self.resubmitRequested.emit(self._fixing, text)
            return
        self.last_sent = text
        self.send_again_button.setEnabled(True)
        self.sendRequested.emit(text, anyway)

    def start_fixing(self, qid: int, raw: str, reason: str) -> None:
        self._fixing = qid
        self.fix_label.setText(f"Fixing quarantined input #{qid}: {reason}")
        self.fix_bar.show()
        self.set_text(raw)
        self.editor.setFocus()

    @Slot()
    def stop_fixing(self) -> None:
        self._fixing = None
        self.fix_bar.hide()

    @property
    def fixing(self) -> int | None:
        return self._fixing

    def set_dark(self, dark: bool) -> None:
        self.editor.highlighter.set_dark(dark)
