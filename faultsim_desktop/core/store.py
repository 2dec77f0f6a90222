"""The SQLite schema, its migrations, and every SQL statement of the project."""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import sqlite3
import time
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from functools import reduce
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple
from urllib.parse import quote

from .fingerprint import NotCanonicalizable, fingerprint, time_bucket
from .model import Outcome, OutcomeRecord, Prepared
from .paging import (QUARANTINE_SEARCHED, QUARANTINE_SORTS, PageQuery, ViewCount, keyset,
                     sort_columns, text_filter)
from .parsing import decode_value
from .retry import RECEIPT_STEP, receipt_attempt

APPLICATION_ID = 0x46534D44  # "FSMD": marks a file as ours, so we never touch anyone else's
SCHEMA_VERSION = 4
# Sums must never round silently: any inexact result raises instead.
MONEY = Context(prec=1000, traps=[Inexact, InvalidOperation, Overflow])
_ZERO = Decimal(0)


class StorageError(Exception):
    """A database problem explained for a person: what happened to which file, and what to do."""

    def __init__(self, message: str, *, path: Path | None = None, kind: str = "error"):
        super().__init__(message)
        self.path = path
        self.kind = kind


def explain(exc: BaseException, path: Path) -> StorageError:
    """Turn a sqlite3/OS error into a StorageError naming the file and the remedy."""
    text = str(exc).lower()
    if isinstance(exc, StorageError):
        return exc
    if "locked" in text or "busy" in text:
        return StorageError(
            f"The database {path} is locked by another program. Close that program (or let it "
            "finish) and retry; events not stored wait in the pending outbox.",
            path=path, kind="locked")
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        return readonly_error(path)
    if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return StorageError(
            f"The disk holding {path} is full (or the database reached its size limit). "
            "Free some space and retry; events not stored wait in the pending outbox.",
            path=path, kind="full")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StorageError(
            f"The file {path} is not a faultsim database or is damaged ({exc}). It was left as "
            "it was and nothing more is written to it; open or create another database "
            "(events not stored wait in the pending outbox).", path=path, kind="corrupt")
    if "unable to open" in text or isinstance(exc, (FileNotFoundError, IsADirectoryError,
                                                    NotADirectoryError, FileExistsError)):
        return StorageError(
            f"The database {path} cannot be opened ({exc}). Check that its folder exists and "
            "is writable, or choose another database.", path=path, kind="open")
    if "disk i/o" in text:
        return StorageError(
            f"Reading or writing {path} failed (disk I/O error). Check the disk; events not "
            "stored wait in the pending outbox.", path=path, kind="io")
    return StorageError(f"Database error on {path}: {exc}", path=path, kind="error")


def readonly_error(path: Path, folder: bool = False) -> StorageError:
    if folder:
        return StorageError(
            f"The folder {path.parent} holding the database {path} is read-only; SQLite needs "
            f"to create {path.name}-wal and {path.name}-shm (and the pending outbox) beside it. "
            "Make the folder writable, or choose another database.", path=path, kind="readonly")
    return StorageError(
        f"The database {path} is read-only. Make it writable (for example chmod u+w), or "
        "choose another database; events not stored wait in the pending outbox.",
        path=path, kind="readonly")


def missing_error(path: Path) -> StorageError:
    return StorageError(
        f"The database {path} is missing: it was deleted or moved away. Put the database "
        "back, or open or create another one; events not stored wait in the pending outbox.",
        path=path, kind="missing")


def writable_problem(path: Path) -> StorageError | None:
    """Why a writer may not write ``path`` (or create it), checked before SQLite opens it:
    SQLite silently opens a write-protected file read-only, and a folder that is not writable
    only fails later, when the -wal file cannot be created."""
    if path.exists() and not os.access(path, os.W_OK):
        return readonly_error(path)
    if path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
        return readonly_error(path, folder=True)
    return None


_SCHEMA_V1 = [
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        fingerprint BLOB NOT NULL,
        client TEXT NOT NULL,
        client_key TEXT NOT NULL,
        currency TEXT NOT NULL,          -- '' when none: NULLs would defeat the keys below
        amount TEXT NOT NULL,            -- exact decimal text
        event_time TEXT NOT NULL,
        received_at TEXT NOT NULL,
        idempotency_key TEXT,
        warnings TEXT,
        source TEXT NOT NULL,
        line INTEGER NOT NULL,
        raw TEXT NOT NULL
    )""",
    # The UNIQUE key is the first 128 bits of the SHA-256: a third smaller index, so a batch
    # dirties fewer pages (measured 16% faster at 1M events). A true 128-bit collision is
    # detected below and rejected with its reason, never merged silently.
    "CREATE UNIQUE INDEX events_fingerprint ON events(substr(fingerprint, 1, 16))",
    """CREATE UNIQUE INDEX events_idempotency ON events(client_key, idempotency_key)
        WHERE idempotency_key IS NOT NULL""",
    """CREATE TABLE clients (
        client_key TEXT PRIMARY KEY,
        display TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE aggregates (
        client_key TEXT NOT NULL,
        currency TEXT NOT NULL,
        count INTEGER NOT NULL,
        total TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (client_key, currency)
    ) WITHOUT ROWID""",
    """CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        raw_hash BLOB NOT NULL UNIQUE,
        raw NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        source TEXT NOT NULL,
        line INTEGER NOT NULL,
        col INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        times_seen INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'open'
    )""",
    """CREATE TABLE log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        client TEXT,
        amount TEXT,
        currency TEXT,
        fingerprint BLOB,
        attempt INTEGER NOT NULL,
        reason TEXT,
        source TEXT NOT NULL,
        line INTEGER NOT NULL,
        event_id INTEGER,
        quarantine_id INTEGER
    )""",
]
# Per-client schemas (core/schemas.py): every version of every client's mapping; the newest
# is active. An event records the version that normalized it (NULL: the heuristics did).
_SCHEMA_V2 = [
    "ALTER TABLE events ADD COLUMN mapping_version INTEGER",
    """CREATE TABLE schemas (
        client_key TEXT NOT NULL,
        version INTEGER NOT NULL,
        mapping TEXT NOT NULL,           -- JSON: core.schemas.Mapping.fields()
        created_at TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (client_key, version)
    ) WITHOUT ROWID""",
]


def _bucket_stored_events(conn: sqlite3.Connection) -> None:
    """Give every stored event its time bucket, read off its raw text exactly as a new event
    gets it, so that a stored event and its retry always meet in the UNIQUE key."""
    stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    if stored > 100_000:  # about 7 s per million here: say why opening takes a while
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        logging.getLogger("faultsim").warning(
            "Upgrading %s: reading its %s stored events once to index them by time "
            "(about %d s here)", path, f"{stored:,}", max(1, stored * 7 // 1_000_000))
    last = 0
    while True:
        rows = conn.execute("SELECT id, raw FROM events WHERE id > ? ORDER BY id LIMIT 5000",
                            (last,)).fetchall()
        if not rows:
            return
        updates = []
        for eid, raw in rows:
            if isinstance(raw, bytes):  # never for a stored event, whose text was valid UTF-8
                raw = raw.decode("utf-8", "replace")
            obj = decode_value(raw).obj
            bucket = time_bucket(obj) if obj is not None else 0
            if bucket:
                updates.append((bucket, eid))
        conn.executemany("UPDATE events SET time_bucket = ? WHERE id = ?", updates)
        last = rows[-1][0]


# The dedup key becomes (time_bucket, fingerprint): events inserted in roughly time order land
# next to each other in the index (benchmarks/index_locality.py: bare SQLite inserts about
# twice as fast over the first million rows, four times as fast over five million).
_SCHEMA_V3 = [
    "ALTER TABLE events ADD COLUMN time_bucket INTEGER NOT NULL DEFAULT 0",
    _bucket_stored_events,
    "DROP INDEX events_fingerprint",
    "CREATE UNIQUE INDEX events_fingerprint ON events(time_bucket, substr(fingerprint, 1, 16))",
]


def _content_of(raw: str | bytes) -> dict | None:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return decode_value(raw).obj


def content_fingerprint(raw: str | bytes) -> bytes | None:
    """The fingerprint of an input's content, as its event is stored under; None when the
    input is not a JSON object."""
    obj = _content_of(raw)
    try:
        return fingerprint(obj) if obj is not None else None
    except NotCanonicalizable:
        return None


def _fingerprint_open_entries(conn: sqlite3.Connection) -> None:
    """Give every open quarantine entry the fingerprint of its content (none for an input
    that is not a JSON object), and resolve those whose content is stored already."""
    fingerprinted, stored = [], []
    for qid, raw in conn.execute("SELECT id, raw FROM quarantine WHERE status = 'open'"
                                 ).fetchall():
        fp = content_fingerprint(raw)
        if fp is None:
            continue
        fingerprinted.append((fp, qid))
        if conn.execute("SELECT 1 FROM events WHERE time_bucket = ? AND"
                        " substr(fingerprint, 1, 16) = ? AND fingerprint = ?",
                        (time_bucket(_content_of(raw)), fp[:16], fp)).fetchone():
            stored.append((qid,))
    conn.executemany("UPDATE quarantine SET fingerprint = ? WHERE id = ?", fingerprinted)
    conn.executemany("UPDATE quarantine SET status = 'resolved' WHERE id = ?", stored)


# A quarantine entry knows its content's fingerprint, so storing that content later resolves
# it; an HTTP request's Idempotency-Key keeps the request's answer (see IngestService.once);
# and each event row keeps its submission's receipt.
_SCHEMA_V4 = [
    "ALTER TABLE quarantine ADD COLUMN fingerprint BLOB",
    """CREATE INDEX quarantine_open_fingerprint ON quarantine(fingerprint)
        WHERE status = 'open' AND fingerprint IS NOT NULL""",
    _fingerprint_open_entries,
    """CREATE TABLE requests (
        key TEXT PRIMARY KEY,            -- the Idempotency-Key
        body_hash BLOB NOT NULL,         -- SHA-256 of the request body
        status INTEGER NOT NULL,
        answer BLOB NOT NULL,            -- the answer's body, byte for byte
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX requests_created ON requests(created_at)",
    # Each event row carries the receipt of the submission that inserted it (core/retry.py),
    # so a retry tells its own earlier commit, whose acknowledgement was lost, from a duplicate.
    "ALTER TABLE events ADD COLUMN receipt INTEGER",
]
_MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4}


def _check_ours(conn: sqlite3.Connection, path: Path) -> int:
    # one statement, so one snapshot: another process may be creating this very file
    app_id, version, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id),"
        " (SELECT user_version FROM pragma_user_version),"
        " (SELECT count(*) FROM sqlite_master)").fetchone()
    if app_id != APPLICATION_ID and (tables or version):
        raise StorageError(
            f"The file {path} is an SQLite database of another program, not a faultsim "
            "database. It was left as it was; choose another database.",
            path=path, kind="foreign")
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"The database {path} was written by a newer faultsim (schema {version}); "
            "upgrade faultsim to open it.", path=path, kind="newer")
    return version


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    # A current schema needs no write lock: the database opens while another program holds one
    # (writes then wait, retry, and at worst go to the pending outbox).
    if _check_ours(conn, path) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_ours(conn, path)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect(path: Path, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000,
            write: bool = True, create: bool = True) -> sqlite3.Connection:
    """Open (and for writers create and migrate) the database; errors become StorageError.

    Readers, and writers with ``create=False``, never create the file: a database that
    vanished is reported missing, not replaced by an empty one.
    """
    path = Path(path)
    if write:
        problem = writable_problem(path)
        if problem is not None:
            raise problem
    if (not write or not create) and not path.exists():
        raise missing_error(path)
    return _connect_once(path, synchronous, busy_timeout_ms, write)


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> str:
    """Set WAL mode, retrying while another process is setting up the same new file: SQLite
    answers that switch "database is locked" at once, without calling the busy handler."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _connect_once(path: Path, synchronous: str, busy_timeout_ms: int, write: bool
                  ) -> sqlite3.Connection:
    # No plain open() of the file here: closing any descriptor of it drops every POSIX lock this
    # process holds on it, and another process would then delete the WAL under our connections.
    # SQLite itself refuses a file whose header is not its own ("file is not a database").
    try:
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            target, uri = path, False
        else:  # mode=rw: a reader never creates the file
            target, uri = f"file:{quote(str(path.absolute()))}?mode=rw", True
        conn = sqlite3.connect(target, isolation_level=None, timeout=busy_timeout_ms / 1000,
                               check_same_thread=True, uri=uri)
    except (sqlite3.Error, OSError) as exc:
        raise explain(exc, path) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _check_ours(conn, path)  # before anything writes, even the WAL switch
        if write:
            mode = _switch_to_wal(conn, busy_timeout_ms)
            if mode.lower() != "wal":
                raise StorageError(f"The database {path} could not switch to WAL mode ({mode}).",
                                   path=path)
            conn.execute(f"PRAGMA synchronous={synchronous}")
            _migrate(conn, path)
        else:
            conn.execute("PRAGMA query_only = 1")
    except BaseException as exc:
        conn.close()
        if isinstance(exc, (sqlite3.Error, OSError)):
            raise explain(exc, path) from exc
        raise
    return conn


class ClientTotal(NamedTuple):
    client: str
    currency: str | None
    count: int
    total: Decimal
    first_seen: str
    last_seen: str


class QuarantineEntry(NamedTuple):
    id: int
    raw: str | bytes
    code: str
    reason: str
    source: str
    line: int
    column: int
    first_seen: str
    last_seen: str
    times_seen: int
    status: str


def _exact_sum(amounts: list[str]) -> Decimal:
    """Sum decimal texts exactly (the money context traps any rounding)."""
    add = MONEY.add
    total = Decimal(0)
    for a in amounts:
        total = add(total, Decimal(a))
    return total


def _raw_bytes(raw: str | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")


def _storable(raw: str | bytes) -> str | bytes:
    """Raw text as SQLite can keep it: text when it is valid UTF-8, else the exact bytes."""
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            return raw.encode("utf-8", "surrogatepass")
    return raw


def _bind_bytes_and_null_directly() -> None:
    """Give bytes and None identity adapters, so the sqlite3 module binds them directly.

    Python 3.11's sqlite3 binds only exact int, float, str and bytearray parameters straight
    away; for anything else, bytes and None included, it first looks for an adapter: in its
    registry, then as ``__adapt__`` on its protocol type, a lookup whose failure builds an
    AttributeError with a formatted message and throws it away, for every such parameter of
    every row. An event row has four of them (fingerprint, idempotency key, warnings, mapping
    version). With an adapter in the registry the lookup ends there: benchmarks/bind_cost.py
    measured 4.2 -> 3.55 us of CPU per inserted row (300,000 rows). Both adapters return the
    very object they get (``bytes(b) is b`` for exact bytes; an empty dict's ``get`` returns
    None), so nothing changes for any other sqlite3 user in the process; an adapter someone
    else registered first stays.
    """
    for kind, same in ((bytes, bytes), (type(None), {}.get)):
        if (kind, sqlite3.PrepareProtocol) not in sqlite3.adapters:
            sqlite3.register_adapter(kind, same)


_bind_bytes_and_null_directly()


def _own_earlier_commit(stored: int | None, receipt: int | None) -> bool:
    """True when the stored row was inserted by this very event (same ticket) on an earlier
    attempt; the same ticket at the same attempt is another drain of the same pending event,
    running at the same time, and what it stored is a duplicate for this one."""
    return (stored is not None and receipt is not None
            and stored - stored % RECEIPT_STEP == receipt - receipt % RECEIPT_STEP
            and stored % RECEIPT_STEP < receipt % RECEIPT_STEP)


def lost_ack_reason(stored_receipt: int) -> str:
    return (f"retry found it already stored: accepted (committed on attempt "
            f"{receipt_attempt(stored_receipt)}, whose acknowledgement was lost)")


_OUTCOME_TEXT = {o: o.value for o in Outcome}  # an Enum's .value is a Python-level property
_INSERT_EVENT = (
    "INSERT INTO events(fingerprint, client, client_key, currency, amount, event_time,"
    " received_at, idempotency_key, warnings, source, line, raw, mapping_version, time_bucket,"
    " receipt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING")


class WriteSession:
    """The writer thread's statements. One instance per write connection; one thread only.

    It keeps the aggregates in memory, checked against ``PRAGMA data_version`` at the start of
    each transaction: when another connection (another process) has committed meanwhile, the
    cache is reloaded, so concurrent writers still add to the true totals.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.cur = conn.cursor()
        # 32 MiB: with the dedup index in time order, only its newest pages are hot. Measured at
        # 1M events, paired runs: as fast as 64 MiB (108,433 vs 108,098 events/s), peak RSS
        # 130 instead of 163 MB; 16 MiB was as fast again (the 5M run is the check).
        conn.execute("PRAGMA cache_size = -32768")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Random fingerprints dirty pages all over the index; checkpointing less often lets a
        # page rewritten by many batches be copied back once (measured: ~15% at 1M events).
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        self._aggs: dict[tuple[str, str], tuple[int, Decimal, str, str]] | None = None
        self._clients: set[str] = set()
        self._version: int | None = None
        self._pending_aggs: dict | None = None
        # fingerprints of the open quarantine entries: storing one of them resolves its entry
        # (loaded with the aggregates, and dropped with them on a rollback)
        self._open_fps: set[bytes] | None = None
        # bumped when stored events may have changed other than by this session's inserts (its
        # reset, another connection's commit): a cache of stored rows keyed by it stays exact
        self.generation = 0

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self._version is not None and version != self._version:
            self.generation += 1
        if self._aggs is None or self._open_fps is None or version != self._version:
            self._load_aggregates()
            self._version = version

    def _load_aggregates(self) -> None:
        self._aggs = {(k, c): (n, Decimal(t), f, last) for k, c, n, t, f, last in self.conn.execute(
            "SELECT client_key, currency, count, total, first_seen, last_seen FROM aggregates")}
        self._clients = {k for (k,) in self.conn.execute("SELECT client_key FROM clients")}
        self._open_fps = {fp for (fp,) in self.conn.execute(
            "SELECT fingerprint FROM quarantine WHERE status = 'open'"
            " AND fingerprint IS NOT NULL")}

    def close(self) -> None:
        # an open cursor keeps the connection a zombie: SQLite would skip the final checkpoint
        self.cur.close()
        self.conn.close()

    def release_wal(self) -> None:
        """Copy the WAL into this connection's own database file and empty it. For a file that
        was deleted or replaced under us: a WAL left with our pages under the old name would be
        read as part of whatever file is opened at that name next."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def copy_to(self, target: Path) -> None:
        """Write a complete copy of the open database to ``target``; SQLite refuses a target
        that exists and is not empty, so nothing is ever overwritten."""
        self.conn.execute("VACUUM INTO ?", (str(target),))

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        if self._pending_aggs:
            self._aggs.update(self._pending_aggs)
        self._pending_aggs = None

    def rollback(self) -> None:
        self._pending_aggs = None
        self._aggs = None  # reload at the next begin: never trust state a failure touched
        self._open_fps = None
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def store_events(self, items: list[Prepared], attempt: int, now: str,
                     receipts: Iterable[int | None] | None = None) -> list[OutcomeRecord]:
        """Insert a batch inside the open transaction; the UNIQUE indexes decide duplicates.

        ``receipts`` (one per item, core/retry.py) go into the rows inserted; an event that
        finds its own receipt's ticket on the stored row was committed by an earlier attempt
        whose acknowledgement was lost: it is accepted, not a duplicate."""
        execute = self.cur.execute
        records: list[OutcomeRecord] = []
        append = records.append
        logged: list[OutcomeRecord] = []  # every outcome but ACCEPTED goes to the log table
        # (client_key, currency) -> the accepted items; new clients -> their first display form
        deltas: dict[tuple[str, str], list] = {}
        new_clients: dict[str, str] = {}
        known_clients = self._clients
        record = tuple.__new__  # OutcomeRecord's own __new__ is Python code: 1M calls count
        accepted, duplicate = Outcome.ACCEPTED, Outcome.DUPLICATE
        open_fps = self._open_fps
        resolved: list[tuple[bytes]] = []  # stored content that open quarantine entries hold
        if receipts is None:
            receipts = repeat(None)
        for it, receipt in zip(items, receipts):
            (raw, source, line, column, fp, client, client_key, amount, currency, event_time,
             idem, warnings, reject_code, reason, _outbox, mapping_version, bucket) = it
            if reject_code is not None:
                qid = self.quarantine(raw, reject_code, reason, source, line, column, now, fp)
                logged.append(OutcomeRecord(now, Outcome.REJECTED, client, amount, currency, fp,
                                            attempt, reason, source, line, None, qid))
                append(logged[-1])
                continue
            key = (client_key, currency or "")
            row = (fp, client, client_key, key[1], amount, event_time, now, idem,
                   json.dumps(warnings, ensure_ascii=False) if warnings else None,
                   source, line, raw, mapping_version, bucket, receipt)
            try:
                cur = execute(_INSERT_EVENT, row)
            except UnicodeEncodeError:  # a lone surrogate in the raw text: kept as its bytes
                cur = execute(_INSERT_EVENT, row[:11] + (_storable(raw),) + row[12:])
            if cur.rowcount == 1:
                if open_fps and fp in open_fps:
                    resolved.append((fp,))
                    open_fps.discard(fp)
                d = deltas.get(key)
                if d is None:
                    deltas[key] = [it]
                    if client_key not in known_clients:
                        new_clients.setdefault(client_key, client)
                else:
                    d.append(it)
                append(record(OutcomeRecord, (now, accepted, client, amount, currency, fp,
                                              attempt, None, source, line, cur.lastrowid, None,
                                              None)))
                continue
            row = execute("SELECT id, fingerprint, receipt FROM events WHERE time_bucket = ?"
                          " AND substr(fingerprint, 1, 16) = ?", (bucket, fp[:16])).fetchone()
            if row is not None and row[1] == fp:
                if open_fps and fp in open_fps:
                    resolved.append((fp,))
                    open_fps.discard(fp)
                if _own_earlier_commit(row[2], receipt):
                    # the event row is its log entry, as for any accepted event
                    append(OutcomeRecord(now, accepted, client, amount, currency, fp, attempt,
                                         lost_ack_reason(row[2]), source, line, row[0]))
                    continue
                r = OutcomeRecord(now, duplicate, client, amount, currency, fp, attempt,
                                  f"same as event #{row[0]}", source, line, row[0])
            elif row is not None:  # 2**-128 odds: say so rather than drop a real event
                reason = (f"its fingerprint shares 128 bits with event #{row[0]}'s but differs; "
                          "it was not stored (report this)")
                qid = self.quarantine(raw, "fingerprint_collision", reason, source, line, column,
                                      now, fp)
                r = OutcomeRecord(now, Outcome.REJECTED, client, amount, currency, fp,
                                  attempt, reason, source, line, row[0], qid)
            else:
                first = execute("SELECT id FROM events WHERE client_key = ?"
                                " AND idempotency_key = ?", (client_key, idem)).fetchone()
                reason = (f"idempotency key {idem!r} of client {client!r} was already used by "
                          f"event #{first[0] if first else '?'} with different content; "
                          "the first one stands")
                qid = self.quarantine(raw, "idempotency_conflict", reason, source, line, column,
                                      now, fp)
                r = OutcomeRecord(now, Outcome.REJECTED, client, amount, currency, fp, attempt,
                                  reason, source, line, first[0] if first else None, qid)
            append(r)
            logged.append(r)
        if deltas:
            self._apply_deltas(deltas, new_clients)
        if resolved:
            self.cur.executemany("UPDATE quarantine SET status = 'resolved'"
                                 " WHERE fingerprint = ? AND status = 'open'", resolved)
        self._log(logged)
        return records

    def _apply_deltas(self, deltas: dict[tuple[str, str], list], new_clients: dict[str, str]
                      ) -> None:
        if new_clients:
            self.cur.executemany("INSERT INTO clients(client_key, display) VALUES (?, ?)"
                                 " ON CONFLICT DO NOTHING", new_clients.items())
            self._clients.update(new_clients)  # rolled back with _aggs on failure
        pending = {}
        add = MONEY.add
        amount_of, time_of = itemgetter(7), itemgetter(9)
        aggs = self._aggs
        updates, inserts = [], []
        for key, accepted in deltas.items():
            total = reduce(add, map(Decimal, map(amount_of, accepted)), _ZERO)
            times = list(map(time_of, accepted))
            count, first, last = len(accepted), min(times), max(times)
            old = aggs.get(key)
            if old is not None:
                count += old[0]
                total = add(total, old[1])
                first = min(first, old[2])
                last = max(last, old[3])
                updates.append((count, str(total), first, last, key[0], key[1]))
            else:
                inserts.append((key[0], key[1], count, str(total), first, last))
            pending[key] = (count, total, first, last)
        # The cache says which rows exist: it is reloaded whenever another connection commits
        # (begin), and dropped on any rollback; a plain UPDATE costs less than an upsert.
        if updates:
            self.cur.executemany(
                "UPDATE aggregates SET count = ?, total = ?, first_seen = ?, last_seen = ?"
                " WHERE client_key = ? AND currency = ?", updates)
            if self.cur.rowcount != len(updates):  # never seen; the batch is retried afresh
                raise sqlite3.OperationalError("aggregates changed under the writer's cache")
        if inserts:
            self.cur.executemany(
                "INSERT INTO aggregates(client_key, currency, count, total, first_seen, last_seen)"
                " VALUES (?,?,?,?,?,?)", inserts)
        self._pending_aggs = pending

    def log_outcomes(self, records: list[OutcomeRecord]) -> None:
        """Log rows in a transaction of their own: retries and failures, whose batch rolled back."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._log(records)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _log(self, records: list[OutcomeRecord]) -> None:
        # Accepted outcomes are not copied here: the event row (received_at, source, line) is
        # their log entry, and skipping them halves what a batch writes.
        accepted = Outcome.ACCEPTED
        text = _OUTCOME_TEXT
        rows = [(r[0], text[r[1]], r[2], r[3], r[4], r[5][:8] if r[5] else None, r[6], r[7],
                 r[8], r[9], r[10], r[11]) for r in records if r[1] is not accepted]
        if rows:
            self.cur.executemany(
                "INSERT INTO log(at, outcome, client, amount, currency, fingerprint, attempt,"
                " reason, source, line, event_id, quarantine_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def quarantine(self, raw: str | bytes, code: str, reason: str | None, source: str,
                   line: int, column: int, now: str, fingerprint: bytes | None = None) -> int:
        """Keep a rejected input (once per raw text); ``fingerprint`` is its content's, when it
        is an object, so that storing that content later resolves the entry."""
        raw_hash = hashlib.sha256(_raw_bytes(raw)).digest()
        qid = self.cur.execute(
            "INSERT INTO quarantine(raw_hash, raw, code, reason, source, line, col, first_seen,"
            " last_seen, times_seen, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,1,?)"
            " ON CONFLICT(raw_hash) DO UPDATE SET last_seen = excluded.last_seen,"
            " times_seen = times_seen + 1, code = excluded.code, reason = excluded.reason,"
            " source = excluded.source, line = excluded.line, col = excluded.col,"
            " fingerprint = coalesce(excluded.fingerprint, fingerprint),"
            " status = 'open' RETURNING id",
            (raw_hash, _storable(raw), code, reason or code, source, line, column, now, now,
             fingerprint),
        ).fetchone()[0]
        if fingerprint is not None and self._open_fps is not None:
            self._open_fps.add(fingerprint)
        return qid

    def set_quarantine_status(self, ids: Iterable[int], status: str) -> None:
        self.cur.executemany("UPDATE quarantine SET status = ? WHERE id = ?",
                             [(status, i) for i in ids])
        self._open_fps = None  # reloaded at the next begin

    def record_answer(self, key: str, body_hash: bytes, status: int, answer: bytes, now: str,
                      expired_before: str) -> tuple[bytes, int, bytes]:
        """Keep the answer to the request named ``key`` (answers from before
        ``expired_before`` are forgotten first); returns the answer kept under that key, which
        is another request's when one recorded it first (another process)."""
        self.cur.execute("DELETE FROM requests WHERE created_at < ?", (expired_before,))
        self.cur.execute("INSERT INTO requests(key, body_hash, status, answer, created_at)"
                         " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                         (key, body_hash, status, answer, now))
        return self.cur.execute("SELECT body_hash, status, answer FROM requests WHERE key = ?",
                                (key,)).fetchone()

    def save_mapping(self, client_key: str, mapping_json: str, note: str, now: str) -> int:
        """Store a new version of a client's mapping (inside the open transaction, whose write
        lock keeps two writers from taking the same number); returns the version."""
        version = self.cur.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM schemas WHERE client_key = ?",
            (client_key,)).fetchone()[0]
        self.cur.execute("INSERT INTO schemas(client_key, version, mapping, created_at, note)"
                         " VALUES (?,?,?,?,?)", (client_key, version, mapping_json, now, note))
        return version

    def reset(self) -> None:
        # the clients' schemas are configuration, not data: they stay
        for table in ("events", "clients", "aggregates", "quarantine", "log", "requests"):
            self.cur.execute(f"DELETE FROM {table}")
        self.generation += 1
        self._pending_aggs = None
        self._aggs, self._clients, self._open_fps = {}, set(), set()


class ReadSession:
    """Queries for any thread that opened its own read connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def stats(self) -> list[ClientTotal]:
        rows = self.conn.execute(
            "SELECT c.display, a.currency, a.count, a.total, a.first_seen, a.last_seen"
            " FROM aggregates a JOIN clients c USING (client_key)"
            " ORDER BY c.display COLLATE NOCASE, a.currency").fetchall()
        return [ClientTotal(r[0], r[1] or None, r[2], Decimal(r[3]), r[4], r[5]) for r in rows]

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

    def recent_log(self, limit: int = 100) -> list[tuple]:
        """The newest outcomes first, as (at, outcome, client, amount, currency, fingerprint
        prefix, attempt, reason, source, line, event_id, quarantine_id): accepted ones from the
        events table, the others from the log table."""
        accepted = self.conn.execute(
            "SELECT received_at, 'accepted', client, amount, nullif(currency, ''),"
            " substr(fingerprint, 1, 8), NULL, NULL, source, line, id, NULL"
            " FROM events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        others = self.conn.execute(
            "SELECT at, outcome, client, amount, currency, fingerprint, attempt, reason, source,"
            " line, event_id, quarantine_id FROM log ORDER BY seq DESC LIMIT ?",
            (limit,)).fetchall()
        # both lists are newest first; within one batch (same time) order by source and line
        merged = sorted(accepted + others, key=lambda r: (r[0], r[8] or "", r[9] or 0),
                        reverse=True)
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

    def events_by_id(self, ids: Iterable[int]) -> dict[int, tuple]:
        """Stored events as (id, fingerprint, client, currency, amount, event_time, received_at,
        idempotency_key, warnings, source, line), keyed by id."""
        ids = sorted(set(ids))
        out: dict[int, tuple] = {}
        for i in range(0, len(ids), 500):  # within SQLite's limit on bound parameters
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                    f"SELECT {self._BRIEF} FROM events WHERE id IN ({marks})", part):
                out[row[0]] = row
        return out

    def events_page(self, client_key: str | None = None, since: str | None = None,
                    after: int = 0, limit: int = 100) -> list[tuple]:
        """Events with id > ``after`` in id order (keyset paging), optionally of one client
        (by grouping key) and with event_time >= ``since`` (ISO UTC); same columns as
        ``events_by_id``."""
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
        return self.conn.execute(sql, args).fetchall()

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
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if text:
            columns = ["CASE WHEN typeof(raw) = 'text' THEN raw END" if c == "raw" else c
                       for c in QUARANTINE_SEARCHED]
            condition, more = text_filter(columns, text, "?")
            where.append(condition)
            args.extend(more)
        return where, args

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
