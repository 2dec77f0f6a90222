"""Retry policy (exponential backoff with jitter) and the pending outbox.

The outbox is a second SQLite file beside the database, so events whose retries ran out survive
the main database being unavailable and the program being restarted.
"""
from __future__ import annotations

import os
import random
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from .paging import (PENDING_SEARCHED, PENDING_SORTS, PageQuery, ViewCount, keyset,
                     sort_columns, text_filter)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, the first one included
    base_delay_s: float = 0.05
    factor: float = 2.0
    cap_s: float = 2.0
    jitter: bool = True

    @classmethod
    def with_retries(cls, retries: int, **kwargs) -> "RetryPolicy":
        return cls(attempts=max(0, retries) + 1, **kwargs)

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1-based) failed."""
        ceiling = min(self.cap_s, self.base_delay_s * self.factor ** (failed_attempt - 1))
        if not self.jitter:
            return ceiling
        # "equal jitter": never less than half the ceiling, so retries do not bunch up at zero
        return ceiling / 2 + (rng or random).random() * ceiling / 2


# A receipt marks the row one submitted event inserts, so that a retry can tell its own earlier
# commit (whose acknowledgement was lost) from the same content stored by another sender: the
# event's ticket (a multiple of RECEIPT_STEP, unique per event and kept in the pending outbox)
# plus the number of the attempt whose transaction wrote the row (1 to 255, counted on across
# drains of the outbox). A row with the event's ticket and an earlier attempt is its own commit.
RECEIPT_STEP = 256
_TICKET_BITS = 54  # tickets stay below 2**62: a signed 64-bit integer in both databases


def new_tickets(n: int) -> range:
    """Tickets for ``n`` events sent for the first time: random, so never another sender's
    (a seeded fault switch replays the same faults, never the same tickets)."""
    start = (int.from_bytes(os.urandom(8), "big") >> (64 - _TICKET_BITS)) * RECEIPT_STEP
    return range(start, start + n * RECEIPT_STEP, RECEIPT_STEP)


def receipt_ticket(receipt: int | None) -> int | None:
    return None if receipt is None else receipt - receipt % RECEIPT_STEP


def receipt_attempt(receipt: int) -> int:
    return receipt % RECEIPT_STEP


class PendingEvent(NamedTuple):
    id: int
    raw: str | bytes
    source: str
    line: int
    column: int
    failed_at: str
    attempts: int
    last_error: str
    # the receipt its rows carry when stored (see Writer): None in an outbox of an older version
    receipt: int | None = None
    import_tag: str | None = None  # JSON of the ImportTag of the import it belongs to


# AUTOINCREMENT: an id is never given to another event. A drain removes the ids it read; had a
# second process removed one meanwhile, a plain rowid would be reused by the next failed event,
# and the first drain would then delete that event unsent.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    raw NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    col INTEGER NOT NULL,
    failed_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    receipt INTEGER,
    import_uid INTEGER,
    import_tag TEXT
)
"""


def _current(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'pending'").fetchone()
    return row is not None and all(word in row[0].upper()
                                   for word in ("AUTOINCREMENT", "RECEIPT", "IMPORT_TAG"))


def _upgrade(conn: sqlite3.Connection) -> None:
    """Create the table, or bring an older outbox's rows (ids kept) into the current one: with
    AUTOINCREMENT, and with receipt and import columns (NULL for the rows it had)."""
    old = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'pending'").fetchone()
    if old and "AUTOINCREMENT" in old[0].upper():
        if "RECEIPT" not in old[0].upper():
            conn.execute("ALTER TABLE pending ADD COLUMN receipt INTEGER")
        conn.execute("ALTER TABLE pending ADD COLUMN import_uid INTEGER")
        conn.execute("ALTER TABLE pending ADD COLUMN import_tag TEXT")
        return
    if old:
        conn.execute("ALTER TABLE pending RENAME TO pending_v0")
    conn.execute(_SCHEMA)
    if old:
        conn.execute("INSERT INTO pending(id, raw, source, line, col, failed_at, attempts,"
                     " last_error) SELECT * FROM pending_v0")
        conn.execute("DROP TABLE pending_v0")


class Outbox:
    """Durable list of events that could not be stored. Each call opens its own connection,
    so any thread may use it (calls are rare: only when retries run out or on a drain)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        if not self._ready:  # once per instance: the window asks for the count often
            conn.execute("PRAGMA journal_mode=WAL")
            if not _current(conn):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if not _current(conn):
                        _upgrade(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    conn.close()
                    raise
            self._ready = True
        return conn

    def add(self, rows: Iterable[tuple], failed_at: str) -> list[int]:
        """Store (raw, source, line, column, attempts, error[, receipt[, import tag]]) rows;
        returns their ids, in order."""
        rows = [(r[0], r[1], r[2], r[3], failed_at, r[4], r[5], r[6] if len(r) > 6 else None,
                 *_import_columns(r[7] if len(r) > 7 else None)) for r in rows]
        if not rows:
            return []
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO pending(raw, source, line, col, failed_at, attempts, last_error,"
                " receipt, import_uid, import_tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            # AUTOINCREMENT inside one write transaction: the new ids are the last len(rows)
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'pending'"
                                ).fetchone()[0]
            conn.execute("COMMIT")
        return list(range(last - len(rows) + 1, last + 1))

    def note_failure(self, ids: list[int], attempts: int, error: str,
                     receipts: dict[int, int] | None = None) -> None:
        """Another drain of ``ids`` failed; a row without a receipt takes the one it was
        written with (``receipts``)."""
        if not ids:
            return
        receipts = receipts or {}
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE pending SET attempts = attempts + ?, last_error = ?,"
                " receipt = coalesce(receipt, ?) WHERE id = ?",
                [(attempts, error, receipts.get(i), i) for i in ids],
            )
            conn.execute("COMMIT")

    def receipts(self, ids: Iterable[int]) -> dict[int, tuple[int | None, int]]:
        """id -> (receipt, attempts so far) of the pending events ``ids`` that are still here."""
        ids = list(ids)
        if not ids or not self.path.exists():
            return {}
        out = {}
        with closing(self._connect()) as conn:
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                out.update((r[0], (r[1], r[2])) for r in conn.execute(
                    f"SELECT id, receipt, attempts FROM pending WHERE id IN"
                    f" ({','.join('?' * len(part))})", part))
        return out

    def remove(self, ids: Iterable[int]) -> None:
        ids = [(i,) for i in ids]
        if not ids:
            return
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM pending WHERE id = ?", ids)
            conn.execute("COMMIT")

    def remove_import(self, uid: int) -> int:
        """Forget the waiting events of one import (it was undone); returns how many."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as conn:
            return conn.execute("DELETE FROM pending WHERE import_uid = ?", (uid,)).rowcount

    def count_by_import(self) -> dict[int | None, int]:
        """How many events wait, by the uid of their import."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as conn:
            return dict(conn.execute("SELECT import_uid, count(*) FROM pending"
                                     " GROUP BY import_uid").fetchall())

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as conn:
            return conn.execute("SELECT count(*) FROM pending").fetchone()[0]

    def list(self, limit: int | None = None, after_id: int = 0) -> list[PendingEvent]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT id, raw, source, line, col, failed_at, attempts, last_error, receipt,"
                " import_tag"
                " FROM pending"
                " WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, -1 if limit is None else limit),
            ).fetchall()
        return [PendingEvent(*r) for r in rows]

    @staticmethod
    def _match(text: str) -> tuple[list[str], list]:
        if not text:
            return [], []
        columns = ["CASE WHEN typeof(raw) = 'text' THEN raw END" if c == "raw" else c
                   for c in PENDING_SEARCHED]
        condition, args = text_filter(columns, text, "?")
        return [condition], args

    def view_count(self, text: str = "") -> ViewCount:
        """How many events wait, and how many of them match ``text`` (core/paging.py)."""
        if not self.path.exists():
            return ViewCount(0, 0)
        match, args = self._match(text)
        sql = "SELECT count(*)" + "".join(f", coalesce(sum({m}), 0)" for m in match)
        with closing(self._connect()) as conn:
            row = conn.execute(sql + " FROM pending", args).fetchone()
        return ViewCount(row[0], row[-1])

    def page(self, query: PageQuery = PageQuery()) -> list[PendingEvent]:
        """One page of the waiting events that match the query's text, in its sort order."""
        where, args = self._match(query.text)
        more, more_args, order = keyset(sort_columns(PENDING_SORTS, query.sort), query, "?")
        if not self.path.exists():
            return []
        sql = ("SELECT id, raw, source, line, col, failed_at, attempts, last_error, receipt,"
               " import_tag FROM pending")
        if where or more:
            sql += " WHERE " + " AND ".join(where + more)
        with closing(self._connect()) as conn:
            rows = conn.execute(f"{sql} ORDER BY {order} LIMIT ?",
                                args + more_args + [query.limit]).fetchall()
        return [PendingEvent(*r) for r in rows]

    def iter_all(self, page: int = 5000) -> Iterator[list[PendingEvent]]:
        last = 0
        while rows := self.list(page, after_id=last):
            yield rows
            last = rows[-1].id


def _import_columns(tag) -> tuple[int | None, str | None]:
    return (None, None) if tag is None else (tag.uid, tag.to_json())
