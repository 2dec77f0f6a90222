"""Queries on a PostgreSQL read connection (usually a pooled one)."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Iterator

import psycopg

from ..model import ClientTotal, LogRow, QuarantineEntry, StoredEvent
from ..paging import (QUARANTINE_SEARCHED, QUARANTINE_SORTS, PageQuery, ViewCount, keyset,
                      sort_columns, status_and_text)
from .client_read import PgClientReads
from .explain_read import PgExplainReads
from .imports_read import ImportReads
from .postgres_schema import _plain, _raw_value, _text


def _nocase(text: str) -> str:
    return text.lower()


_BRIEF = ("id, fingerprint, client, nullif(currency, ''), amount::text, event_time, received_at,"
          " idempotency_key, warnings, source, line")


def _brief(row: tuple) -> StoredEvent:
    (eid, fingerprint, client, currency, amount, event_time, received_at, idempotency_key,
     warnings, source, line) = row
    return StoredEvent(eid, bytes(fingerprint), _plain(client), currency, amount, event_time,
                       received_at, _plain(idempotency_key), warnings, _plain(source), line)


class PgReadSession(ImportReads, PgExplainReads, PgClientReads):
    """Queries on a read-only connection (usually a pooled one); ``close`` gives it back."""

    def __init__(self, backend, conn: psycopg.Connection,
                 release: Callable[[psycopg.Connection], None]):
        self.backend, self.conn, self._release = backend, conn, release

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            self._release(conn)

    def _rows(self, sql: str, args=()) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except psycopg.Error as exc:
            raise self.backend.explain(exc) from None

    def _read(self, sql: str, args=()) -> list[tuple]:
        return self._rows(sql.replace("?", "%s"), args)

    def stats(self) -> list[ClientTotal]:
        rows = self._rows(
            "SELECT c.display, a.currency, a.count, a.total, a.first_seen, a.last_seen,"
            " a.client_key FROM aggregates a JOIN clients c USING (client_key)")
        out = [(ClientTotal(_plain(display), currency or None, count, total, first, last), key)
               for display, currency, count, total, first, last, key in rows]
        out.sort(key=lambda x: (_nocase(x[0].client), x[0].currency or "", x[1]))
        return [r for r, _ in out]

    def group_by_events(self) -> list[ClientTotal]:
        """The aggregates recomputed from the stored events (for checks and tests)."""
        rows = self._rows(
            "SELECT e.client_key, e.currency, count(*), sum(e.amount), min(e.event_time),"
            " max(e.event_time), c.display FROM events e LEFT JOIN clients c USING (client_key)"
            " GROUP BY e.client_key, e.currency, c.display")
        out = [(ClientTotal(_plain(display if display is not None else key), currency or None,
                            count, total, first, last), key)
               for key, currency, count, total, first, last, display in rows]
        out.sort(key=lambda x: (_nocase(x[0].client), x[0].currency or "", x[1]))
        return [r for r, _ in out]

    def counts(self) -> dict[str, int]:
        [(events, quarantined)] = self._rows(
            "SELECT (SELECT count(*) FROM events),"
            " (SELECT count(*) FROM quarantine WHERE status = 'open')")
        return {"events": events, "quarantined": quarantined}

    def recent_log(self, limit: int = 100) -> list[LogRow]:
        accepted = self._rows(
            "SELECT received_at, 'accepted', client, amount::text, nullif(currency, ''),"
            " substr(fingerprint, 1, 8), NULL::int, NULL::text, source, line, id, NULL::bigint"
            " FROM events ORDER BY id DESC LIMIT %s", (limit,))
        others = self._rows(
            "SELECT at, outcome, client, amount, currency, fingerprint, attempt, reason, source,"
            " line, event_id, quarantine_id FROM log ORDER BY seq DESC LIMIT %s", (limit,))
        rows = []
        for r in map(LogRow._make, accepted + others):
            fp = r.fingerprint
            rows.append(r._replace(client=_plain(r.client), reason=_plain(r.reason),
                                   source=_plain(r.source),
                                   fingerprint=bytes(fp) if fp is not None else None))
        rows.sort(key=lambda r: (r.at, r.source or "", r.line or 0), reverse=True)
        return rows[:limit]

    _EVENT = ("id, fingerprint, client, client_key, currency, amount::text, event_time,"
              " received_at, idempotency_key, warnings, source, line, mapping_version, raw,"
              " raw_bytes")

    def _event_dict(self, row: tuple) -> dict:
        names = [c.strip() for c in self._EVENT.replace("::text", "").split(",")]
        d = dict(zip(names, row))
        for k in ("client", "client_key", "idempotency_key", "source"):
            d[k] = _plain(d[k])
        d["fingerprint"] = bytes(d["fingerprint"])
        d["raw"] = _raw_value(d["raw"], d.pop("raw_bytes"))
        return d

    def event(self, event_id: int) -> dict | None:
        rows = self._rows(f"SELECT {self._EVENT} FROM events WHERE id = %s", (event_id,))
        return self._event_dict(rows[0]) if rows else None

    def events_by_id(self, ids: Iterable[int]) -> dict[int, StoredEvent]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        rows = self._rows(f"SELECT {_BRIEF} FROM events WHERE id = ANY(%b::bigint[])", (ids,))
        return {r[0]: _brief(r) for r in rows}

    def events_page(self, client_key: str | None = None, since: str | None = None,
                    after: int = 0, limit: int = 100) -> list[StoredEvent]:
        sql = f"SELECT {_BRIEF} FROM events WHERE id > %s"
        args: list = [after]
        if client_key is not None:
            sql += " AND client_key = %s"
            args.append(_text(client_key))
        if since is not None:
            sql += " AND event_time >= %s"
            args.append(since)
        sql += " ORDER BY id LIMIT %s"
        args.append(limit)
        return [_brief(r) for r in self._rows(sql, args)]

    def iter_events(self, page: int = 10_000) -> Iterator[dict]:
        last = 0
        while True:
            rows = self._rows(f"SELECT {self._EVENT} FROM events WHERE id > %s ORDER BY id"
                              " LIMIT %s", (last, page))
            if not rows:
                return
            for row in rows:
                d = self._event_dict(row)
                del d["client_key"]
                yield d
            last = rows[-1][0]

    _QUARANTINE_COLS = ("id, raw, raw_bytes, code, reason, source, line, col, first_seen,"
                        " last_seen, times_seen, status")

    @staticmethod
    def _entry(row: tuple) -> QuarantineEntry:
        (qid, raw, raw_bytes, code, reason, source, line, column, first_seen, last_seen,
         times_seen, status) = row
        return QuarantineEntry(qid, _raw_value(raw, raw_bytes), code, _plain(reason),
                               _plain(source), line, column, first_seen, last_seen, times_seen,
                               status)

    def quarantine(self, status: str | None = "open", limit: int = 1000) -> list[QuarantineEntry]:
        sql = f"SELECT {self._QUARANTINE_COLS} FROM quarantine"
        args: tuple = ()
        if status:
            sql += " WHERE status = %s"
            args = (status,)
        sql += " ORDER BY id LIMIT %s"
        return [self._entry(r) for r in self._rows(sql, args + (limit,))]

    def answer(self, key: str, since: str) -> tuple[bytes, int, bytes] | None:
        rows = self._rows("SELECT body_hash, status, answer FROM requests WHERE key = %s"
                          " AND created_at >= %s", (key, since))
        return (bytes(rows[0][0]), rows[0][1], bytes(rows[0][2])) if rows else None

    @staticmethod
    def _quarantine_where(status: str | None, text: str) -> tuple[list[str], list]:
        # raw is NULL where the input was not UTF-8 text
        return status_and_text(status, QUARANTINE_SEARCHED, _text(text), "%s", "ILIKE")

    def quarantine_count(self, status: str | None = "open", text: str = "") -> ViewCount:
        """How many entries have ``status`` (None: any), and how many of them match ``text``."""
        where, args = self._quarantine_where(status, "")
        match, match_args = self._quarantine_where(None, text)
        sql = "SELECT count(*)" + "".join(f", count(*) FILTER (WHERE {m})" for m in match)
        sql += " FROM quarantine" + "".join(f" WHERE {w}" for w in where)
        [row] = self._rows(sql, match_args + args)
        return ViewCount(row[0], row[-1])

    def quarantine_page(self, status: str | None = "open", query: PageQuery = PageQuery()
                        ) -> list[QuarantineEntry]:
        """One page of the entries with ``status`` (None: any) that match the query's text,
        in its sort order (core/paging.py); text sorts by code point, as in SQLite."""
        where, args = self._quarantine_where(status, query.text)
        bounds = {k: tuple(_text(v) if isinstance(v, str) else v for v in b)
                  for k, b in (("after", query.after), ("upto", query.upto)) if b is not None}
        more, more_args, order = keyset(sort_columns(QUARANTINE_SORTS, query.sort),
                                        replace(query, **bounds), "%s", collate="C")
        sql = f"SELECT {self._QUARANTINE_COLS} FROM quarantine"
        if where or more:
            sql += " WHERE " + " AND ".join(where + more)
        sql += f" ORDER BY {order} LIMIT %s"
        return [self._entry(r) for r in self._rows(sql, args + more_args + [query.limit])]

    def quarantine_entry(self, qid: int) -> QuarantineEntry | None:
        rows = self._rows(f"SELECT {self._QUARANTINE_COLS} FROM quarantine WHERE id = %s",
                          (qid,))
        return self._entry(rows[0]) if rows else None

    def integrity_check(self) -> str:
        """"ok", or what disagrees: every aggregate must equal the GROUP BY over its events,
        and every client key must have its display name."""
        problems = []
        [(mismatched,)] = self._rows(
            "SELECT count(*) FROM aggregates a FULL JOIN (SELECT client_key, currency,"
            " count(*) AS n, sum(amount) AS t, min(event_time) AS f, max(event_time) AS l"
            " FROM events GROUP BY 1, 2) e"
            " ON a.client_key = e.client_key AND a.currency = e.currency"
            " WHERE a.client_key IS NULL OR e.client_key IS NULL OR a.count <> e.n"
            " OR a.total <> e.t OR a.first_seen <> e.f OR a.last_seen <> e.l")
        if mismatched:
            problems.append(f"{mismatched} aggregate row(s) differ from their events")
        [(nameless,)] = self._rows(
            "SELECT count(*) FROM aggregates a WHERE NOT EXISTS"
            " (SELECT 1 FROM clients c WHERE c.client_key = a.client_key)")
        if nameless:
            problems.append(f"{nameless} aggregate row(s) have no client name")
        return "; ".join(problems) or "ok"

    def mappings(self) -> list[tuple[str, int, str, str, str]]:
        """The active (newest) mapping of every client that has one, as (client_key, version,
        mapping JSON, created_at, note)."""
        return [self._mapping(r) for r in self._rows(
            "SELECT DISTINCT ON (client_key) client_key, version, mapping, created_at, note"
            " FROM schemas ORDER BY client_key, version DESC")]

    def mapping_history(self, client_key: str) -> list[tuple[str, int, str, str, str]]:
        """Every version of one client's mapping, newest first (same columns)."""
        return [self._mapping(r) for r in self._rows(
            "SELECT client_key, version, mapping, created_at, note FROM schemas"
            " WHERE client_key = %s ORDER BY version DESC", (_text(client_key),))]

    @staticmethod
    def _mapping(row: tuple) -> tuple[str, int, str, str, str]:
        client_key, version, mapping, created_at, note = row
        return (_plain(client_key), version, _plain(mapping), created_at, _plain(note))

    def mapping_usage(self, client_key: str) -> dict[int | None, int]:
        """How many stored events of a client each mapping version normalized (None: the
        heuristics)."""
        return dict(self._rows("SELECT mapping_version, count(*) FROM events"
                               " WHERE client_key = %s GROUP BY mapping_version",
                               (_text(client_key),)))

    def recent_raw(self, client_key: str, limit: int = 20) -> list[str | bytes]:
        """The raw text of a client's newest stored events, newest first."""
        return [_raw_value(r[0], r[1]) for r in self._rows(
            "SELECT raw, raw_bytes FROM events WHERE client_key = %s ORDER BY id DESC LIMIT %s",
            (_text(client_key), limit))]


__all__ = ["PgReadSession"]
