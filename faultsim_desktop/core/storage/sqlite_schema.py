"""The SQLite schema, its migrations, and opening a database file (created, checked as
ours, switched to WAL, migrated)."""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from ..errors import StorageError, StorageErrorKind
from ..fingerprint import time_bucket
from ..parsing import decode_value
from .common import (_content_of, apply_migrations, content_fingerprint, explain, missing_error,
                     readonly_error)

APPLICATION_ID = 0x46534D44  # "FSMD": marks a file as ours, so we never touch anyone else's
SCHEMA_VERSION = 5
# The page size a new database is created with (SQLite's default is 4 KiB; an existing file
# keeps the size it was made with). The dedup and idempotency indexes take inserts at random
# places once a table outgrows the page cache: each such insert reads a page the cache lacks
# and writes it to the WAL at commit. 16 KiB pages make those indexes a quarter as many pages,
# so a batch shares more of them and reads and writes fewer times (docs/benchmarks.md,
# "Page size").
PAGE_SIZE = 16384


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
    # dirties fewer pages. A true 128-bit collision is detected on insert and rejected with its
    # reason, never merged silently.
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
# next to each other in the index, so inserts touch few pages (benchmarks/index_locality.py).
_SCHEMA_V3 = [
    "ALTER TABLE events ADD COLUMN time_bucket INTEGER NOT NULL DEFAULT 0",
    _bucket_stored_events,
    "DROP INDEX events_fingerprint",
    "CREATE UNIQUE INDEX events_fingerprint ON events(time_bucket, substr(fingerprint, 1, 16))",
]




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
# Imports are first-class (core/storage/undo.py): every event and log row names the import
# that sent it, and an event that lost its idempotency key to another is kept whole in
# ``conflicts``, so undoing the other can accept it exactly as if the other never came.
_SCHEMA_V5 = [
    """CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        uid INTEGER NOT NULL UNIQUE,     -- core.model.ImportTag.uid
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,                -- its latest stored outcome
        faults TEXT NOT NULL,
        undone_at TEXT,
        counts TEXT                      -- JSON: its counts when it was undone
    )""",
    "ALTER TABLE events ADD COLUMN import_id INTEGER",
    # an import's events are inserted in id order: its index entries are appended, not scattered
    "CREATE INDEX events_import ON events(import_id)",
    "ALTER TABLE log ADD COLUMN import_id INTEGER",
    "CREATE INDEX log_import ON log(import_id, outcome)",
    """CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY,
        import_id INTEGER,
        quarantine_id INTEGER,
        fingerprint BLOB NOT NULL,
        client TEXT NOT NULL,
        client_key TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount TEXT NOT NULL,
        event_time TEXT NOT NULL,
        received_at TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        warnings TEXT,
        source TEXT NOT NULL,
        line INTEGER NOT NULL,
        raw NOT NULL,
        mapping_version INTEGER,
        time_bucket INTEGER NOT NULL
    )""",
    "CREATE INDEX conflicts_key ON conflicts(client_key, idempotency_key)",
]
_MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4, 5: _SCHEMA_V5}


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
            path=path, kind=StorageErrorKind.FOREIGN)
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"The database {path} was written by a newer faultsim (schema {version}); "
            "upgrade faultsim to open it.", path=path, kind=StorageErrorKind.NEWER)
    return version


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    # A current schema needs no write lock: the database opens while another program holds one
    # (writes then wait, retry, and at worst go to the pending outbox).
    if _check_ours(conn, path) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_ours(conn, path)
        apply_migrations(conn, _MIGRATIONS, version, SCHEMA_VERSION)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect(path: Path, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000,
            write: bool = True, create: bool = True, shared: bool = False
            ) -> sqlite3.Connection:
    """Open (and for writers create and migrate) the database; errors become StorageError.

    Readers, and writers with ``create=False``, never create the file: a database that
    vanished is reported missing, not replaced by an empty one. ``shared``: any thread may
    use the connection (the caller then makes sure only one at a time does).
    """
    path = Path(path)
    if write:
        problem = writable_problem(path)
        if problem is not None:
            raise problem
    if (not write or not create) and not path.exists():
        raise missing_error(path)
    return _connect_once(path, synchronous, busy_timeout_ms, write, shared)


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


def _connect_once(path: Path, synchronous: str, busy_timeout_ms: int, write: bool,
                  shared: bool = False) -> sqlite3.Connection:
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
                               check_same_thread=not shared, uri=uri)
    except (sqlite3.Error, OSError) as exc:
        raise explain(exc, path) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _check_ours(conn, path)  # before anything writes, even the WAL switch
        if write:
            # before the first write (the WAL switch makes the header); a no-op on a file that
            # has pages already
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
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


def _bind_bytes_and_null_directly() -> None:
    """Give bytes and None identity adapters, so the sqlite3 module binds them directly.

    Python 3.11's sqlite3 binds only exact int, float, str and bytearray parameters straight
    away; for anything else, bytes and None included, it first looks for an adapter: in its
    registry, then as ``__adapt__`` on its protocol type, a lookup whose failure builds an
    AttributeError with a formatted message and throws it away, for every such parameter of
    every row. An event row has four of them (fingerprint, idempotency key, warnings, mapping
    version). With an adapter in the registry the lookup ends there (benchmarks/bind_cost.py
    measures the CPU it saves per inserted row). Both adapters return the
    very object they get (``bytes(b) is b`` for exact bytes; an empty dict's ``get`` returns
    None), so nothing changes for any other sqlite3 user in the process; an adapter someone
    else registered first stays.
    """
    for kind, same in ((bytes, bytes), (type(None), {}.get)):
        if (kind, sqlite3.PrepareProtocol) not in sqlite3.adapters:
            sqlite3.register_adapter(kind, same)


_bind_bytes_and_null_directly()
