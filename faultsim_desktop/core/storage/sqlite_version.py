"""Whether an SQLite file changed since a reader last looked, without reading it.

``PRAGMA data_version`` answers from the shared WAL index in a few microseconds, and its value
moves whenever another connection (of this process or any other) commits to the file. The value
is only comparable on one connection, so the probe keeps a read connection for that question
alone, reopened when the path names another file than the one it has open.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..errors import StorageError
from .sqlite_files import file_identity
from .sqlite_schema import connect

PROBE_BUSY_TIMEOUT_MS = 1_000


class DataVersion:
    """A token that changes with every commit to the file at ``path``; None when the file cannot
    be asked (missing, locked, not a database), and then the caller reads it.

    Tokens are ``(connection number, data_version)``: a token taken on an earlier connection
    never equals one of a later connection. Any thread may ask; one at a time does."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file it has open
        self._opened = 0
        self._closed = False

    def token(self) -> tuple[int, int] | None:
        with self._lock:
            if self._closed:
                return None
            identity = file_identity(self.path)
            if identity is None:
                self._drop()
                return None
            if self._conn is not None and identity != self._identity:
                self._drop()  # deleted, moved or replaced: its version says nothing of the path
            if self._conn is None:
                try:
                    conn = connect(self.path, write=False, shared=True,
                                   busy_timeout_ms=PROBE_BUSY_TIMEOUT_MS)
                except StorageError:
                    return None
                if file_identity(self.path) != identity:  # replaced while it opened
                    conn.close()
                    return None
                self._conn, self._identity = conn, identity
                self._opened += 1
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                self._drop()
                return None
            return self._opened, version

    def _drop(self) -> None:
        conn, self._conn, self._identity = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
