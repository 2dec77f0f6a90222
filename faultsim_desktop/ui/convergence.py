"""The convergence panel: the verdict (big, once the run is judged), the run's counts, and
expected against stored per client and currency, live, with every difference marked."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QLabel, QSizePolicy,
                               QTableView, QVBoxLayout, QWidget)

from ..core.model import Outcome
from ..scenario.model import ClientKey, Figure, RunSnapshot, RunState, Verdict
from .charts import NO_CURRENCY, format_money
from .theme import CRASH_RED, is_dark, outcome_color, plain_tooltip

# the difference beside the counts: in a narrow window the totals are what scrolls out of view
COLUMNS = ("Client", "Currency", "Expected", "Stored", "Difference", "Expected total",
           "Stored total")
VERDICT_COLORS = {Verdict.EXACT: "#1b7f3a", Verdict.DIVERGED: CRASH_RED,
                  Verdict.INCOMPLETE: "#b26a00"}
VERDICT_TEXT = {Verdict.EXACT: "EXACT: every event stored once",
                Verdict.DIVERGED: "DIVERGED: the store differs from the inputs",
                Verdict.INCOMPLETE: "INCOMPLETE: events still pending"}
_CLIENT_COLUMN_MAX_PX = 200
_DIFFERENCES_SHOWN = 4  # sentences under the verdict; the table marks every row
# (key in snapshot.counts, what the panel calls it), in the order a presenter reads them
COUNT_NAMES = (("attempts", "attempts"), ("requests", "HTTP requests"), ("retries", "retries"),
               ("lost_acks", "lost acks caught"), ("restarts", "restarts"),
               ("accepted", "accepted"), ("duplicates", "duplicates"), ("rejected", "rejected"),
               ("failed", "failed"), ("pending", "pending"))


@dataclass(frozen=True)
class ConvergenceRow:
    key: ClientKey
    client: str  # the spelling shown
    expected: Figure | None
    stored: Figure | None

    @property
    def differs(self) -> bool:
        return self.expected != self.stored

    def difference(self) -> str:
        if not self.differs:
            return ""
        if self.stored is None:
            return "not stored"
        if self.expected is None:
            return "not expected"
        parts = []
        dc = self.stored.count - self.expected.count
        if dc:
            parts.append(f"{dc:+,} event{'s' if abs(dc) != 1 else ''}")
        dt = self.stored.total - self.expected.total
        if dt:
            parts.append(("+" if dt > 0 else "−") + format_money(abs(dt)))
        return ", ".join(parts)


def convergence_rows(expected: dict[ClientKey, Figure], stored: dict[ClientKey, Figure],
                     names: dict[str, str]) -> list[ConvergenceRow]:
    """Every client and currency either side knows, differences first, then by name."""
    keys = set(expected) | set(stored)
    rows = [ConvergenceRow(k, names.get(k[0], k[0]), expected.get(k), stored.get(k))
            for k in keys]
    rows.sort(key=lambda r: (not r.differs, r.client.casefold(), r.key[1]))
    return rows


class ConvergenceModel(QAbstractTableModel):
    namesChanged = Signal()  # same rows, another spelling of a client's name

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[ConvergenceRow] = []
        self.judged = False  # the run has its verdict: a difference is final, not catching up
        self._dark = False

    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        if self.rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    def set_rows(self, rows: list[ConvergenceRow], judged: bool = False) -> None:
        if rows == self.rows and judged == self.judged:
            return
        self.judged = judged
        if [r.key for r in rows] == [r.key for r in self.rows]:
            renamed = [r.client for r in rows] != [r.client for r in self.rows]
            self.rows = rows  # same rows, new figures: the view keeps its scroll and selection
            if rows:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(rows) - 1, len(COLUMNS) - 1))
            if renamed:  # the stored spelling replaced the input's
                self.namesChanged.emit()
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def text(self, row: int, column: int) -> str:
        r = self.rows[row]
        if column == 0:
            return r.client
        if column == 1:
            return r.key[1] or NO_CURRENCY
        if column == 4:
            return ("≠ " + r.difference()) if r.differs else "="
        figure = r.expected if column in (2, 5) else r.stored
        if column in (2, 3):
            return f"{figure.count:,}" if figure is not None else "—"
        return format_money(figure.total) if figure is not None else "—"

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return plain_tooltip(r.client)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (2, 3, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # while the run goes on a difference is the store catching up (amber); once judged,
        # it is a divergence (red, bold)
        if role == Qt.ItemDataRole.ForegroundRole and r.differs and self.judged:
            return QBrush(outcome_color(Outcome.FAILED, self._dark))
        if role == Qt.ItemDataRole.BackgroundRole and r.differs:
            color = QColor(outcome_color(Outcome.FAILED if self.judged else Outcome.REJECTED,
                                         self._dark))
            color.setAlpha(40 if self.judged else 28)
            return QBrush(color)
        if role == Qt.ItemDataRole.FontRole and r.differs and self.judged:
            font = QFont()
            font.setBold(True)
            return font
        return None


def _total_events(figures: dict[ClientKey, Figure]) -> int:
    return sum(f.count for f in figures.values())


class ConvergencePanel(QWidget):
    """What the run shows a presenter: where it is or its verdict, the counts, the table."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.verdict_label = QLabel(self)
        self.verdict_label.setObjectName("verdictLabel")
        self.verdict_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("convergenceSummary")
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.summary_label.setWordWrap(True)
        self.count_labels: dict[str, QLabel] = {}
        counts = QGridLayout()
        counts.setContentsMargins(0, 0, 0, 0)
        counts.setHorizontalSpacing(10)
        counts.setVerticalSpacing(1)
        for i, (key, name) in enumerate(COUNT_NAMES):
            caption = QLabel(name, self)
            value = QLabel("0", self)
            value.setObjectName(f"count_{key}")
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setStyleSheet("font-weight: 600;")
            counts.addWidget(caption, i // 2, (i % 2) * 2)
            counts.addWidget(value, i // 2, (i % 2) * 2 + 1)
            self.count_labels[key] = value
        self.differences_label = QLabel(self)  # the runner's sentences, as the CLI prints them
        self.differences_label.setObjectName("convergenceDifferences")
        self.differences_label.setTextFormat(Qt.TextFormat.PlainText)
        self.differences_label.setWordWrap(True)
        self.differences_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        self.differences_label.setStyleSheet(f"color: {CRASH_RED};")
        self.differences_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                             QSizePolicy.Policy.Preferred)
        self.differences_label.hide()
        self.injected_label = QLabel(self)
        self.injected_label.setObjectName("injectedFaults")
        self.injected_label.setTextFormat(Qt.TextFormat.PlainText)
        self.injected_label.setWordWrap(True)
        self.model = ConvergenceModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("convergenceTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.model.modelReset.connect(self._fit_client_column)
        self.model.namesChanged.connect(self._fit_client_column)
        heading = QLabel("Expected against stored, per client and currency", self)
        heading.setStyleSheet("font-weight: 600;")
        heading.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.differences_label)
        layout.addLayout(counts)
        layout.addWidget(self.injected_label)
        layout.addWidget(heading)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table, 1)
        self.snapshot: RunSnapshot | None = None
        self.duration_s = 0.0
        self.apply_palette(self.palette())
        self.show_snapshot(None)

    def _fit_client_column(self) -> None:
        # a long client name is elided rather than pushing the figures out of view
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), _CLIENT_COLUMN_MAX_PX))

    def apply_palette(self, palette: QPalette) -> None:
        self.model.set_dark(is_dark(palette))
        self._show_verdict()

    def show_snapshot(self, snapshot: RunSnapshot | None, duration_s: float | None = None) -> None:
        self.snapshot = snapshot
        if duration_s is not None:
            self.duration_s = duration_s
        counts = snapshot.counts if snapshot is not None else {}
        for key, label in self.count_labels.items():
            value = counts.get(key, 0)
            label.setText(f"{value:,}" if isinstance(value, int) else str(value))
        injected = counts.get("injected") or {}
        self.injected_label.setText(
            "injected faults: " + (", ".join(f"{p.replace('_', ' ')} {n:,}"
                                             for p, n in sorted(injected.items()))
                                   if injected else "none"))
        if snapshot is None:
            self.model.set_rows([])
            self.summary_label.setText("Play a scenario: its clients appear here as the "
                                       "inputs say they should be stored, then as they are.")
        else:
            rows = convergence_rows(snapshot.expected, snapshot.stored, snapshot.names)
            judged = snapshot.verdict is not None
            self.model.set_rows(rows, judged)
            differ = sum(r.differs for r in rows)
            exp, sto = _total_events(snapshot.expected), _total_events(snapshot.stored)
            self.summary_label.setText(
                f"{len(rows):,} client/currency row{'s' if len(rows) != 1 else ''} · "
                f"expected {exp:,} events, stored {sto:,} · "
                + (f"{differ:,} differ" + ("" if judged else " so far") if differ
                   else "all agree" if rows else "nothing to compare yet"))
        differences = snapshot.differences if snapshot is not None else ()
        shown = differences[:_DIFFERENCES_SHOWN]
        more = len(differences) - len(shown)
        # why a run could not go on reads here, at the size of text, not in the banner
        reason = [snapshot.error] if snapshot is not None and snapshot.error else []
        self.differences_label.setText("\n".join(reason + [f"• {d}" for d in shown])
                                       + (f"\n… and {more:,} more (Save report… lists them all)"
                                          if more else ""))
        self.differences_label.setVisible(bool(differences or reason))
        self._show_verdict()

    def _show_verdict(self) -> None:
        s = self.snapshot
        big = "font-size: 22px; font-weight: 800; padding: 8px; border-radius: 4px;"
        if s is not None and s.verdict is not None:
            color = VERDICT_COLORS[s.verdict]
            text = (f"{s.verdict.value.upper()}: the run could not go on" if s.error
                    else VERDICT_TEXT[s.verdict])
            self.verdict_label.setStyleSheet(f"background: {color}; color: white; {big}")
            self.verdict_label.setText(text)
            return
        mid = "font-size: 16px; font-weight: 700; padding: 8px; border-radius: 4px;"
        if s is not None and s.error:
            self.verdict_label.setStyleSheet(f"background: {CRASH_RED}; color: white; {mid}")
            self.verdict_label.setText("The run could not go on")
            return
        self.verdict_label.setStyleSheet(f"border: 2px solid palette(mid); {mid}")
        if s is None or s.state is RunState.READY:
            self.verdict_label.setText("Ready: the verdict shows here when the run ends")
        elif s.state is RunState.SETTLING:
            self.verdict_label.setText(f"Settling at {s.position_s:.1f} s: waiting for final "
                                       f"outcomes ({s.counts.get('pending', 0):,} pending)")
        elif s.state is RunState.FINISHED:
            self.verdict_label.setText("Stopped before a verdict")
        else:
            what = "Playing" if s.state is RunState.PLAYING else "Paused"
            self.verdict_label.setText(f"{what} at {s.position_s:.1f} s of "
                                       f"{self.duration_s:.1f} s")

    def verdict_text(self) -> str:
        """The banner, and under it why the run could not go on or what differs."""
        below = self.differences_label.text() if self.differences_label.isVisibleTo(self) else ""
        return "\n".join(t for t in (self.verdict_label.text(), below) if t)

    def totals(self) -> dict[ClientKey, tuple[int, Decimal]]:
        """The stored column as shown: {(client key, currency): (count, total)}."""
        return {r.key: (r.stored.count, r.stored.total) for r in self.model.rows
                if r.stored is not None}


__all__ = ["COLUMNS", "ConvergenceModel", "ConvergencePanel", "ConvergenceRow",
           "convergence_rows"]
