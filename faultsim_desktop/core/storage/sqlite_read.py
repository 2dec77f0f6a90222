"""Queries on an SQLite read connection: totals, pages of events and quarantine, mappings."""
from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Iterable, Iterator

from ..model import ClientTotal, LogRow, QuarantineEntry, StoredEvent
from ..paging import (QUARANTINE_SEARCHED, QUARANTINE_SORTS, PageQuery, ViewCount, keyset,
                      sort_columns, status_and_text)
from .client_read import SQLiteClientReads
from .common import MONEY
from .explain_read import SqliteExplainReads
from .imports_read import ImportReads

# raw is a BLOB where the input was not UTF-8 text: only text is searched
_QUARANTINE_TEXT = ["CASE WHEN typeof(raw) = 'text' THEN raw END" if c == "raw" else c
                    for c in QUARANTINE_SEARCHED]


class ReadSession(ImportReads, SqliteExplainReads, SQLiteClientReads):
    """Queries for any thread that opened its own read connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _read(self, sql: str, args=()) -> list[tuple]:
        return self.conn.execute(sql, args).fetchall()

    def stats(self) -> list[ClientTotal]:
        rows = self.conn.execute(
            "SELECT c.display, a.currency, a.count, a.total, a.first_seen, a.last_seen"
            " FROM aggregates a JOIN clients c USING (client_key)"
            " ORDER BY c.display COLLATE NOCASE, a.currency").fetchall()
        return [ClientTotal(display, currency or None, count, Decimal(total), first, last)
                for display, currency, count, total, first, last in rows]

    def group_by_events(self) -> list[ClientTotal]:
        """The aggregates recomputed from the stored events (for checks and tests)."""
        totals: dict[tuple[str, str], list] = {}
        for key, currency, amount, t in self.conn.execute(
                "SELECT client_key, currency, amount, event_time FROM events"):
            agg = totals.get((key, currency))
            if agg is None:
                totals[(key, currency)] = [1, Decimal(amount), t, t]
            else:
                agg[0] += 1
                agg[1] = MONEY.add(agg[1], Decimal(amount))
                agg[2] = min(agg[2], t)
                agg[3] = max(agg[3], t)
        names = dict(self.conn.execute("SELECT client_key, display FROM clients"))
        out = [ClientTotal(names.get(k, k), c or None, *v) for (k, c), v in totals.items()]
        return sorted(out, key=lambda r: (r.client.lower(), r.currency or ""))

    def counts(self) -> dict[str, int]:
        events = self.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        quarantined = self.conn.execute(
            "SELECT count(*) FROM quarantine WHERE status = 'open'").fetchone()[0]
        return {"events": events, "quarantined": quarantined}

    def recent_log(self, limit: int = 100) -> list[LogRow]:
        """The newest outcomes first: accepted ones from the events table, the others from
        the log table."""
        accepted = self.conn.execute(
            "SELECT received_at, 'accepted', client, amount, nullif(currency, ''),"
            " substr(fingerprint, 1, 8), NULL, NULL, source, line, id, NULL"
            " FROM events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        others = self.conn.execute(
            "SELECT at, outcome, client, amount, currency, fingerprint, attempt, reason, source,"
            " line, event_id, quarantine_id FROM log ORDER BY seq DESC LIMIT ?",
            (limit,)).fetchall()
        # both lists are newest first; within one batch (same time) order by source and line
        merged = sorted(map(LogRow._make, accepted + others),
                        key=lambda r: (r.at, r.source or "", r.line or 0), reverse=True)
        return merged[:limit]

    def event(self, event_id: int) -> dict | None:
        cur = self.conn.execute("SELECT * FROM events WHERE id = ?", (event_id,))
        row = cur.fetchone()
        if row is None:
            return None
        event = dict(zip([c[0] for c in cur.description], row))
        del event["time_bucket"]  # part of the dedup key, not of the event
        return event

    _BRIEF = ("id, fingerprint, client, nullif(currency, ''), amount, event_time, received_at,"
              " idempotency_key, warnings, source, line")

    def events_by_id(self, ids: Iterable[int]) -> dict[int, StoredEvent]:
        """Stored events, keyed by id."""
        ids = sorted(set(ids))
        out: dict[int, tuple] = {}
        for i in range(0, len(ids), 500):  # within SQLite's limit on bound parameters
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                    f"SELECT {self._BRIEF} FROM events WHERE id IN ({marks})", part):
                out[row[0]] = StoredEvent._make(row)
        return out

    def events_page(self, client_key: str | None = None, since: str | None = None,
                    after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Events with id > ``after`` in id order (keyset paging), optionally of one client
        (by grouping key) and with event_time >= ``since`` (ISO UTC)."""
        sql = f"SELECT {self._BRIEF} FROM events WHERE id > ?"
        args: list = [after]
        if client_key is not None:
            sql += " AND client_key = ?"
            args.append(client_key)
        if since is not None:
            sql += " AND event_time >= ?"
            args.append(since)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return list(map(StoredEvent._make, self.conn.execute(sql, args)))

    def iter_events(self, page: int = 10_000) -> Iterator[dict]:
        last = 0
        columns = ("id, client, currency, amount, event_time, received_at, idempotency_key,"
                   " warnings, source, line, mapping_version, fingerprint, raw")
        names = [c.strip() for c in columns.split(",")]
        while True:
            rows = self.conn.execute(f"SELECT {columns} FROM events WHERE id > ? ORDER BY id"
                                     " LIMIT ?", (last, page)).fetchall()
            if not rows:
                return
            for row in rows:
                yield dict(zip(names, row))
            last = rows[-1][0]

    def quarantine(self, status: str | None = "open", limit: int = 1000) -> list[QuarantineEntry]:
        sql = ("SELECT id, raw, code, reason, source, line, col, first_seen, last_seen,"
               " times_seen, status FROM quarantine")
        args: tuple = ()
        if status:
            sql += " WHERE status = ?"
            args = (status,)
        sql += " ORDER BY id LIMIT ?"
        return [QuarantineEntry(*r) for r in self.conn.execute(sql, args + (limit,))]

    def answer(self, key: str, since: str) -> tuple[bytes, int, bytes] | None:
        """(body hash, status, answer body) of the request named ``key``, recorded at
        ``since`` or later."""
        return self.conn.execute(
            "SELECT body_hash, status, answer FROM requests WHERE key = ? AND created_at >= ?",
            (key, since)).fetchone()

    def _quarantine_where(self, status: str | None, text: str) -> tuple[list[str], list]:
        return status_and_text(status, _QUARANTINE_TEXT, text, "?")

    def quarantine_count(self, status: str | None = "open", text: str = "") -> ViewCount:
        """How many entries have ``status`` (None: any), and how many of them match ``text``."""
        where, args = self._quarantine_where(status, "")
        match, match_args = self._quarantine_where(None, text)
        sql = "SELECT count(*)" + "".join(f", coalesce(sum({m}), 0)" for m in match)
        sql += " FROM quarantine" + "".join(f" WHERE {w}" for w in where)
        row = self.conn.execute(sql, match_args + args).fetchone()
        return ViewCount(row[0], row[-1])

    def quarantine_page(self, status: str | None = "open", query: PageQuery = PageQuery()
                        ) -> list[QuarantineEntry]:
        """One page of the entries with ``status`` (None: any) that match the query's text,
        in its sort order (core/paging.py)."""
        where, args = self._quarantine_where(status, query.text)
        more, more_args, order = keyset(sort_columns(QUARANTINE_SORTS, query.sort), query, "?")
        sql = ("SELECT id, raw, code, reason, source, line, col, first_seen, last_seen,"
               " times_seen, status FROM quarantine")
        if where or more:
            sql += " WHERE " + " AND ".join(where + more)
        sql += f" ORDER BY {order} LIMIT ?"
        rows = self.conn.execute(sql, args + more_args + [query.limit])
        return [QuarantineEntry(*r) for r in rows]

    def quarantine_entry(self, qid: int) -> QuarantineEntry | None:
        row = self.conn.execute(
            "SELECT id, raw, code, reason, source, line, col, first_seen, last_seen,"
            " times_seen, status FROM quarantine WHERE id = ?", (qid,)).fetchone()
        return QuarantineEntry(*row) if row else None

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def mappings(self) -> list[tuple[str, int, str, str, str]]:
        """The active (newest) mapping of every client that has one, as (client_key, version,
        mapping JSON, created_at, note)."""
        return self.conn.execute(
            "SELECT client_key, version, mapping, created_at, note FROM schemas s"
            " WHERE version = (SELECT max(version) FROM schemas WHERE client_key = s.client_key)"
            " ORDER BY client_key").fetchall()

    def mapping_history(self, client_key: str) -> list[tuple[str, int, str, str, str]]:
        """Every version of one client's mapping, newest first (same columns)."""
        return self.conn.execute(
            "SELECT client_key, version, mapping, created_at, note FROM schemas"
            " WHERE client_key = ? ORDER BY version DESC", (client_key,)).fetchall()

    def mapping_usage(self, client_key: str) -> dict[int | None, int]:
        """How many stored events of a client each mapping version normalized (None: the
        heuristics). Scans the client's events: for reports, not for every batch."""
        return dict(self.conn.execute(
            "SELECT mapping_version, count(*) FROM events WHERE client_key = ?"
            " GROUP BY mapping_version", (client_key,)).fetchall())

    def recent_raw(self, client_key: str, limit: int = 20) -> list[str | bytes]:
        """The raw text of a client's newest stored events, newest first."""
        return [r[0] for r in self.conn.execute(
            "SELECT raw FROM events WHERE client_key = ? ORDER BY id DESC LIMIT ?",
            (client_key, limit))]
