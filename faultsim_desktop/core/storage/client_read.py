"""Reads of one client's stored events for the drill-down and the history chart: keyset pages,
exact per-currency sums and history columns. One mixin per backend's read session; the SQL
differs only in placeholders, LIKE and how amounts and text come back."""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from ..client_events import (CLIENT_EVENT_SORTS, RAW_PREVIEW_CHARS, ClientEvent, ClientImport,
                             CurrencyTotal, EventFilter)
from ..paging import PageQuery, keyset, sort_columns, text_filter
from .common import MONEY

# the text filter looks in these columns
CLIENT_EVENT_SEARCHED = ("raw", "source")


class _ClientReads:
    """The SQL both backends share; a backend says how it binds, matches and converts (its
    names start with _cr/_CR: other mixins of the same read session have their own)."""

    _CR_MARK = "?"
    _CR_LIKE = "LIKE"
    _CR_COLLATE = ""  # the collation keyset pages order text by ("" : the backend's own)
    _CR_AMOUNT = "amount"
    _CR_RAW = f"substr(raw, 1, {RAW_PREVIEW_CHARS}), NULL"
    _CR_IMPORT = "import_id"
    _CR_NOT_INDEXED = "+"  # a prefix that keeps SQLite from choosing a column's index
    _CR_TIME_ORDER = "event_time"

    def _cr_rows(self, sql: str, args: list) -> list[tuple]:
        raise NotImplementedError

    def _cr_text(self, s: str) -> str:
        return s

    def _cr_event(self, row: tuple) -> ClientEvent:
        raise NotImplementedError

    def _cr_where(self, client_key: str, f: EventFilter) -> tuple[list[str], list]:
        m = self._CR_MARK
        where, args = [f"client_key = {m}"], [self._cr_text(client_key)]
        if f.currency is not None:
            where.append(f"currency = {m}")
            args.append(f.currency)
        if f.time_from is not None:
            where.append(f"event_time >= {m}")
            args.append(f.time_from)
        if f.time_to is not None:
            where.append(f"event_time <= {m}")
            args.append(f.time_to)
        if f.import_id is not None:
            where.append(f"import_id = {m}")
            args.append(f.import_id)
        if f.text:
            condition, more = text_filter(CLIENT_EVENT_SEARCHED, self._cr_text(f.text), m,
                                          self._CR_LIKE)
            where.append(condition)
            args.extend(more)
        return where, args

    def client_events_page(self, client_key: str, f: EventFilter = EventFilter(),
                           query: PageQuery = PageQuery()) -> list[ClientEvent]:
        """One keyset page of a client's events that ``f`` selects, in the query's order
        (CLIENT_EVENT_SORTS: by arrival or by event time); the query's own text is not used."""
        where, args = self._cr_where(client_key, f)
        more, more_args, order = keyset(sort_columns(CLIENT_EVENT_SORTS, query.sort), query,
                                        self._CR_MARK, self._CR_COLLATE)
        sql = (f"SELECT id, event_time, {self._CR_AMOUNT}, nullif(currency, ''), source, line,"
               f" received_at, {self._CR_IMPORT}, {self._CR_RAW} FROM events"
               f" WHERE {' AND '.join(where + more)} ORDER BY {order} LIMIT {self._CR_MARK}")
        return [self._cr_event(r) for r in self._cr_rows(sql, args + more_args + [query.limit])]

    def client_totals(self, client_key: str) -> list[CurrencyTotal]:
        """The client's aggregate rows (what the Clients table shows), one per currency."""
        rows = self._cr_rows(f"SELECT currency, count, total FROM aggregates"
                             f" WHERE client_key = {self._CR_MARK}", [self._cr_text(client_key)])
        return _sorted(CurrencyTotal(c or None, n, Decimal(t)) for c, n, t in rows)

    def client_imports(self, client_key: str, limit: int = 200) -> list[ClientImport]:
        """The newest ``limit`` imports that hold events of the client, with how many; events
        stored before imports were recorded belong to none and are not listed."""
        m = self._CR_MARK
        counts = dict(self._cr_rows(
            f"SELECT import_id, count(*) FROM events WHERE client_key = {m}"
            " AND import_id IS NOT NULL GROUP BY import_id ORDER BY import_id DESC"
            f" LIMIT {m}", [self._cr_text(client_key), limit]))
        if not counts:
            return []
        ids = sorted(counts)
        rows = self._cr_rows(
            f"SELECT id, source, kind, started_at, undone_at FROM imports"
            f" WHERE id IN ({', '.join([m] * len(ids))}) ORDER BY id DESC", ids)
        return [ClientImport(i, self._cr_plain(source), kind, started, undone, counts[i])
                for i, source, kind, started, undone in rows]

    def client_history(self, client_keys: Iterable[str], since_id: int = 0
                       ) -> dict[tuple[str, str | None], tuple[list, list, list]]:
        """(client key, currency) -> (ids, times, amounts) of the events with id >
        ``since_id``, in event-time order (then id)."""
        keys = sorted(set(client_keys))
        if not keys:
            return {}
        m = self._CR_MARK
        marks = ", ".join([m] * len(keys))
        # what arrived since the last read is found by id (the newest rows), even where an
        # index on client_key exists: SQLite's "+" keeps it from walking every client's row
        column = f"{self._CR_NOT_INDEXED}client_key" if since_id else "client_key"
        rows = self._cr_rows(
            f"SELECT client_key, currency, id, substr(event_time, 1, 26), {self._CR_AMOUNT}"
            f" FROM events WHERE {column} IN ({marks}) AND id > {m}"
            f" ORDER BY client_key, currency, {self._CR_TIME_ORDER}, id",
            [self._cr_text(k) for k in keys] + [since_id])
        out: dict[tuple[str, str | None], tuple[list, list, list]] = {}
        start = 0
        for i in range(1, len(rows) + 1):  # cut the sorted rows into runs of one series
            if i == len(rows) or rows[i][:2] != rows[start][:2]:
                key, currency = rows[start][0], rows[start][1]
                run = rows[start:i]
                out[(self._cr_plain(key), currency or None)] = (
                    [r[2] for r in run], [r[3] for r in run], [_decimal(r[4]) for r in run])
                start = i
        return out

    def _cr_plain(self, s: str) -> str:
        return s


def _decimal(value) -> Decimal:
    return value if type(value) is Decimal else Decimal(value)


def _sorted(rows: Iterable[CurrencyTotal]) -> list[CurrencyTotal]:
    """The events with no currency last, the others by code."""
    return sorted(rows, key=lambda r: (r.currency is None, r.currency or ""))


def _preview(text: str | None, data: bytes | None) -> str:
    if text is not None:
        return text
    return bytes(data or b"").decode("utf-8", "replace")


class SQLiteClientReads(_ClientReads):
    """For ``ReadSession`` (an sqlite3 connection in ``self.conn``)."""

    def _cr_rows(self, sql: str, args: list) -> list[tuple]:
        return self.conn.execute(sql, args).fetchall()

    def _cr_event(self, row: tuple) -> ClientEvent:
        *head, raw, _none = row
        return ClientEvent(*head, raw if isinstance(raw, str) else _preview(None, raw))

    def client_events_summary(self, client_key: str, f: EventFilter = EventFilter()
                              ) -> list[CurrencyTotal]:
        """Count and exact total per currency of the client's events that ``f`` selects.
        SQLite has no decimal type: the amounts are added here, exactly."""
        where, args = self._cr_where(client_key, f)
        add = MONEY.add
        sums: dict[str, list] = {}
        for currency, amount in self.conn.execute(
                f"SELECT currency, amount FROM events WHERE {' AND '.join(where)}", args):
            acc = sums.get(currency)
            if acc is None:
                sums[currency] = [1, Decimal(amount)]
            else:
                acc[0] += 1
                acc[1] = add(acc[1], Decimal(amount))
        return _sorted(CurrencyTotal(c or None, n, t) for c, (n, t) in sums.items())


class PgClientReads(_ClientReads):
    """For ``PgReadSession`` (``self._rows`` runs a query; text goes through NUL escaping)."""

    _CR_MARK = "%s"
    _CR_LIKE = "ILIKE"
    _CR_COLLATE = "C"  # text sorts by code point, as in SQLite
    _CR_TIME_ORDER = 'event_time COLLATE "C"'
    _CR_NOT_INDEXED = ""  # the planner's statistics decide
    _CR_AMOUNT = "amount::text"
    _CR_RAW = (f"substr(raw, 1, {RAW_PREVIEW_CHARS}),"
            f" substring(raw_bytes from 1 for {RAW_PREVIEW_CHARS})")

    def _cr_rows(self, sql: str, args: list) -> list[tuple]:
        return self._rows(sql, args)

    def _cr_text(self, s: str) -> str:
        from .postgres_schema import _text

        return _text(s)

    def _cr_plain(self, s: str) -> str:
        from .postgres_schema import _plain

        return _plain(s)

    def _cr_event(self, row: tuple) -> ClientEvent:
        (eid, event_time, amount, currency, source, line, received_at, import_id, raw,
         data) = row
        return ClientEvent(eid, event_time, amount, currency, self._cr_plain(source), line,
                           received_at, import_id, self._cr_plain(_preview(raw, data)))

    def client_events_summary(self, client_key: str, f: EventFilter = EventFilter()
                              ) -> list[CurrencyTotal]:
        """Count and exact total (numeric) per currency of the client's events that ``f``
        selects."""
        where, args = self._cr_where(client_key, f)
        rows = self._rows(f"SELECT currency, count(*), sum(amount) FROM events"
                          f" WHERE {' AND '.join(where)} GROUP BY currency", args)
        return _sorted(CurrencyTotal(c or None, n, t) for c, n, t in rows)


__all__ = ["CLIENT_EVENT_SEARCHED", "PgClientReads", "SQLiteClientReads"]
