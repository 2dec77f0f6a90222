"""A table model that pages over a table in the database (the quarantine, the pending outbox).

Rows arrive a page at a time as the view scrolls to its end (``canFetchMore``/``fetchMore``);
sorting and filtering happen in the database, so they are right over every row, not only the
fetched ones. Every read runs on the bridge's reader lane, one at a time: requests made while one
runs are coalesced into the next. A refresh reads the true count and the rows from the top down
to the last one the user looks at (or has selected), then applies the difference as inserts,
removals and changes, so the view keeps its selection, and the panel its scroll position.
"""
from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal

from ..core.paging import PageQuery, SortColumn, ViewCount, sort_key
from .theme import plain_tooltip

PAGE_SIZE = 200
# Rows a refresh may find above the user's rows and still keep them: a bigger burst pushes the
# rows below the user's out of the fetched part (scrolling fetches them again).
REFRESH_SLACK = 1000
# A refresh re-reads the fetched rows down to the user's: once that is many, at most once a
# second (a later change, or the bridge's periodic one, starts the refresh that waited).
LARGE_REFRESH_ROWS = 2000
LARGE_REFRESH_S = 1.0


class Column(NamedTuple):
    title: str
    value: Callable[[Any], object]
    sort: str | None = None  # the core's name of the sort (core/paging.py); None: not sortable
    first_order: Qt.SortOrder = Qt.SortOrder.AscendingOrder  # a first click sorts this way


class TitledColumns:
    """For a table model whose columns are fixed: their titles in ``COLUMNS``."""

    COLUMNS: tuple[str, ...] = ()

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None


class ColumnsModel(QAbstractTableModel):
    """A read-only table over ``self._rows``, one ``Column`` (title, getter) per column, with
    an optional tooltip per row."""

    def __init__(self, columns: list[Column], tooltip: Callable | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.columns = columns
        self.tooltip = tooltip
        self._rows: list = []

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[index.column()].value(row)
        if role == Qt.ItemDataRole.ToolTipRole and self.tooltip is not None:
            return plain_tooltip(self.tooltip(row))
        return None


class PagedModel(ColumnsModel):
    """Rows of one kind (NamedTuples with an ``id``), read through ``count`` and ``page``:
    ``count(service, scope, text) -> ViewCount`` and ``page(service, scope, PageQuery) ->
    list``, where ``scope`` holds the view's other filters (the quarantine's status)."""

    countChanged = Signal(object)  # ViewCount, after every read of it
    aboutToRefresh = Signal()  # rows are about to change (not by fetchMore)
    refreshed = Signal()  # rows changed by a refresh or a reload
    readFailed = Signal(str)
    idle = Signal()  # no read runs or waits (a refresh held back by LARGE_REFRESH_S waits)

    def __init__(self, columns: list[Column], sorts: dict[str, tuple[SortColumn, ...]],
                 count: Callable, page: Callable, *, scope: dict | None = None,
                 tooltip: Callable | None = None, page_size: int = PAGE_SIZE,
                 parent: QObject | None = None):
        super().__init__(columns, tooltip, parent)
        self.sorts = sorts
        self._count_fn, self._page_fn = count, page
        self.page_size = page_size
        self.scope: dict = dict(scope or {})
        self.text = ""
        self.sort_name = "id"
        self.descending = True  # newest first
        self.view_count: ViewCount | None = None
        self._index: dict[int, int] = {}
        self._reader = None  # the EngineBridge: .service and .read(fn, done, failed)
        self._generation = 0  # a result read for an older query is dropped
        self._busy = False
        self._want_reload = False
        self._want_refresh: tuple[int, bool] | None = None  # (last row to keep, anchored)
        self._want_fetch = False
        self._exhausted = False  # the last page came back short: nothing more for now
        self._refreshed_at = 0.0
        self._stale = False  # a reload failed: the next refresh reloads

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        if role == Qt.ItemDataRole.InitialSortOrderRole:
            return self.columns[section].first_order
        if role == Qt.ItemDataRole.ToolTipRole and self.columns[section].sort is None:
            return "This column does not sort"
        return None

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return (not parent.isValid() and self._reader is not None and not self._exhausted
                and self.view_count is not None and len(self._rows) < self.view_count.matching)

    def fetchMore(self, parent=QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._want_fetch = True
            self._next()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        name = self.columns[column].sort
        descending = order == Qt.SortOrder.DescendingOrder
        if name is None or (name, descending) == (self.sort_name, self.descending):
            return
        self.sort_name, self.descending = name, descending
        self.reload()

    def bind(self, reader) -> None:
        """Read through ``reader`` (the EngineBridge) from now on, starting afresh."""
        self._reader = reader
        self.reload()

    def set_text(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.reload()

    def set_scope(self, **scope) -> None:
        if any(self.scope.get(k) != v for k, v in scope.items()):
            self.scope.update(scope)
            self.reload()

    def sort_column(self) -> int:
        return next(i for i, c in enumerate(self.columns) if c.sort == self.sort_name)

    def reload(self) -> None:
        """Read the count and the first page again for a new query (or a new database)."""
        self._generation += 1
        self._stale = False
        self._want_reload = True
        self._want_refresh = None
        self._want_fetch = False
        self._next()

    def refresh(self, keep: int = -1, anchored: bool = False) -> None:
        """Read the count and the fetched rows again: from the top down to row ``keep`` (with
        ``anchored``, that row stays even when new rows arrive above it)."""
        if self._stale:
            self._stale = False
            self._want_reload = True
        keep = max(keep, self.page_size - 1)
        if self._want_refresh is not None:  # coalesce: the widest request wins
            keep = max(keep, self._want_refresh[0])
            anchored = anchored or self._want_refresh[1]
        self._want_refresh = (keep, anchored)
        self._next()

    @property
    def busy(self) -> bool:
        return self._busy

    def row(self, i: int):
        return self._rows[i]

    def rows(self) -> list:
        return list(self._rows)

    def row_of(self, row_id: int) -> int:
        """The row index of the entry with id ``row_id``; -1 when it is not fetched."""
        return self._index.get(row_id, -1)

    def _query(self, **kwargs) -> PageQuery:
        return PageQuery(text=self.text, sort=self.sort_name, descending=self.descending,
                         **kwargs)

    def _key(self, row) -> tuple:
        return sort_key(row, self.sorts, self.sort_name)

    def _next(self) -> None:
        if self._busy or self._reader is None:
            return
        count_fn, page_fn, scope, text = self._count_fn, self._page_fn, dict(self.scope), self.text
        if self._want_reload:
            self._want_reload = False
            query = self._query(limit=self.page_size)

            def read(svc):
                return count_fn(svc, scope, text), page_fn(svc, scope, query)
            self._start(read, self._reloaded)
        elif self._want_refresh is not None and self._refresh_due():
            keep, anchored = self._want_refresh
            self._want_refresh = None
            if anchored and len(self._rows) > keep:
                query = self._query(upto=self._key(self._rows[keep]),
                                    limit=keep + 1 + REFRESH_SLACK)
            else:
                query = self._query(limit=keep + 1)

            def read(svc):
                return count_fn(svc, scope, text), page_fn(svc, scope, query)
            self._start(read, self._refreshed)
        elif self._want_fetch and self.canFetchMore():
            self._want_fetch = False
            after = self._key(self._rows[-1]) if self._rows else None
            query = self._query(after=after, limit=self.page_size)
            self._start(lambda svc: (after, page_fn(svc, scope, query)), self._fetched)
        else:
            self._want_fetch = False
            if self._want_refresh is None:
                self.idle.emit()

    def _refresh_due(self) -> bool:
        keep = self._want_refresh[0] if self._want_refresh else 0
        return (keep < LARGE_REFRESH_ROWS
                or time.monotonic() - self._refreshed_at >= LARGE_REFRESH_S)

    def _start(self, read: Callable, apply: Callable) -> None:
        self._busy = True
        generation = self._generation
        svc = self._reader.service

        def done(result) -> None:
            self._busy = False
            if generation == self._generation:
                apply(result)
            self._next()

        def failed(message: str) -> None:
            self._busy = False
            if generation == self._generation and apply == self._reloaded:
                self._stale = True  # the rows shown answer an older query: the next refresh
            self.readFailed.emit(message)  # reloads (not at once: the database may be gone)
            self._next()
        self._reader.read(lambda: read(svc), done, failed)

    def _set_count(self, count: ViewCount) -> None:
        self.view_count = count
        self.countChanged.emit(count)

    def _reloaded(self, result: tuple[ViewCount, list]) -> None:
        count, rows = result
        self.aboutToRefresh.emit()
        self.beginResetModel()
        self._rows = list(rows)
        self._reindex()
        self.endResetModel()
        self._exhausted = len(rows) < self.page_size
        self._set_count(count)
        self.refreshed.emit()

    def _refreshed(self, result: tuple[ViewCount, list]) -> None:
        count, rows = result
        self._refreshed_at = time.monotonic()
        self._exhausted = False
        self.aboutToRefresh.emit()
        self._apply(list(rows))
        self._set_count(count)
        self.refreshed.emit()

    def _fetched(self, result: tuple[tuple | None, list]) -> None:
        after, page = result
        if after != (self._key(self._rows[-1]) if self._rows else None):
            return  # a refresh changed the last row meanwhile; the view asks again
        rows = [r for r in page if r.id not in self._index]
        self._exhausted = len(page) < self.page_size
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self._index.update((r.id, start + i) for i, r in enumerate(rows))
            self.endInsertRows()

    def _reindex(self) -> None:
        self._index = {r.id: i for i, r in enumerate(self._rows)}

    def _apply(self, new: list) -> None:
        """Turn the fetched rows into ``new`` (both in the sort order) with removals, a
        reordering if any row moved, insertions and changes, so views keep their selection."""
        new_ids = {r.id for r in new}
        old = self._rows
        i = len(old)
        while i > 0:  # remove runs of rows that are gone, from the bottom up
            if old[i - 1].id in new_ids:
                i -= 1
                continue
            end = i
            while i > 0 and old[i - 1].id not in new_ids:
                i -= 1
            self.beginRemoveRows(QModelIndex(), i, end - 1)
            del old[i:end]
            self.endRemoveRows()
        position = {r.id: n for n, r in enumerate(new)}
        kept = [position[r.id] for r in old]
        if kept != sorted(kept):  # a sort value changed: same rows, another order
            self.layoutAboutToBeChanged.emit()
            before = self.persistentIndexList()
            ids = [old[p.row()].id for p in before]
            old.sort(key=lambda r: position[r.id])
            self._reindex()
            self.changePersistentIndexList(
                before, [self.index(self._index[k], p.column()) for k, p in zip(ids, before)])
            self.layoutChanged.emit()
        have = {r.id for r in old}
        n = 0
        while n < len(new):  # insert runs of new rows where they belong
            if new[n].id in have:
                n += 1
                continue
            end = n
            while end < len(new) and new[end].id not in have:
                end += 1
            self.beginInsertRows(QModelIndex(), n, end - 1)
            old[n:n] = new[n:end]
            self.endInsertRows()
            n = end
        changed = [n for n, (a, b) in enumerate(zip(old, new)) if a != b]
        self._rows = new
        self._reindex()
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0),
                                  self.index(changed[-1], len(self.columns) - 1))
