"""PostgreSQL: the same sessions as the SQLite backend, for a server many processes share.

The guarantees are the same and come from the database, not from this process:
- duplicates are decided by UNIQUE indexes with ``INSERT ... ON CONFLICT DO NOTHING
  RETURNING`` (never check-then-insert), so concurrent writers count an event once;
- aggregates are added in SQL (``ON CONFLICT ... DO UPDATE SET count = count + excluded.count``,
  NUMERIC: exact) in the same transaction as their events; no cache another process could
  invalidate;
- a client keeps the form it was first stored under (``ON CONFLICT DO NOTHING``);
- every batch takes its row locks in one global order (events by fingerprint, quarantine by
  hash, clients and aggregates by key), so concurrent writers wait for each other instead of
  deadlocking; deadlocks and serialization failures that happen anyway, lock timeouts and
  lost connections become ``StorageError`` kinds the writer retries, as SQLite's busy errors.

PostgreSQL text cannot hold U+0000, which untrusted names may contain: text columns store it
escaped (``_text``/``_plain``, reversible). Raw input that is not valid UTF-8 goes to a bytea
column beside the text one. Writers use one dedicated connection each (the single-writer design);
readers borrow connections from a small pool.
"""
from __future__ import annotations

import logging
import threading

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ..dburl import mask_url, pg_outbox_path, url_password
from ..errors import StorageError, StorageErrorKind
from .common import explain
from .postgres_read import PgReadSession
from .postgres_schema import _check_schema, _has_meta
from .postgres_write import PgWriteSession

# The pool logs each failed connection attempt; a StorageError already says what is wrong, so
# without a logging set-up of the application's own these stay off the terminal.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
# A reader waits this long for a pooled connection, then connects directly: a pool only says
# it timed out, a connection attempt says why (server stopped, login refused...).
POOL_WAIT_S = 0.5
_BUSY = {"40P01", "40001", "55P03", "57014"}  # deadlock, serialization, lock timeout, cancel
_GONE = {"57P01", "57P02", "57P03", "53300"}  # shut down, crashed, starting, too many clients


class PgBackend:
    """A PostgreSQL database named by a URL; its pending outbox is a local SQLite file."""

    is_file = False

    def __init__(self, url: str):
        self.target = url
        self.label = mask_url(url)
        self._password = url_password(url)
        self.outbox_path = pg_outbox_path(url)
        try:
            self.outbox_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported when an event has to wait there
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StorageError(f"{self.label} is not a valid PostgreSQL URL: "
                               f"{self._scrub(str(exc))}", path=None,
                               kind=StorageErrorKind.OPEN) from None
        params.setdefault("connect_timeout", 10)
        params.setdefault("application_name", "faultsim")
        self._params = params
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._checked = False
        self._closed = False

    def _scrub(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "***")
        return " ".join(text.split())

    def explain(self, exc: BaseException) -> StorageError:
        """A psycopg error as a StorageError naming the database (never its password); any
        other error (the pending outbox is a local SQLite file) is told as for a file."""
        if isinstance(exc, StorageError):
            return exc
        if not isinstance(exc, (psycopg.Error, PoolTimeout)):
            return explain(exc, self.label)
        label = self.label
        state = getattr(exc, "sqlstate", None) or ""
        diag = getattr(exc, "diag", None)
        # the server's own sentence, without the statement text and caret psycopg appends
        primary = diag.message_primary if diag is not None and state else None
        detail = self._scrub(primary or str(exc)).removeprefix("connection failed: ")
        low = detail.lower()
        if state in ("28P01", "28000") or "authentication failed" in low \
                or "no password supplied" in low:
            return StorageError(
                f"PostgreSQL refused the login to {label} ({detail}). Check the user and "
                "password (in the URL, PGPASSWORD or ~/.pgpass).", kind=StorageErrorKind.OPEN)
        if state == "3D000" or ("database" in low and "does not exist" in low):
            return StorageError(
                f"The PostgreSQL database {label} does not exist ({detail}). Create it "
                "(createdb NAME) or check the URL.", kind=StorageErrorKind.OPEN)
        if state in _BUSY:
            return StorageError(
                f"The PostgreSQL database {label} is busy ({detail}). The write is tried "
                "again; events not stored wait in the pending outbox.",
                kind=StorageErrorKind.LOCKED)
        if state == "53100":
            return StorageError(
                f"The PostgreSQL server of {label} has no disk space left ({detail}). Free "
                "some space and retry; events not stored wait in the pending outbox.",
                kind=StorageErrorKind.FULL)
        if state in ("25006", "42501"):
            return StorageError(
                f"The PostgreSQL database {label} refuses writes ({detail}): a read-only "
                "server or a user without write permission. Events not stored wait in the "
                "pending outbox.", kind=StorageErrorKind.READONLY)
        if state == "42P01":
            return StorageError(
                f"The PostgreSQL database {label} no longer holds faultsim's tables "
                f"({detail}). Restore it, or open or create another database; events not "
                "stored wait in the pending outbox.", kind=StorageErrorKind.MISSING)
        if isinstance(exc, (psycopg.OperationalError, PoolTimeout)) and not state \
                or state.startswith("08") or state in _GONE:
            return StorageError(
                f"Cannot reach the PostgreSQL server of {label} ({detail}). Check that it "
                "is running and accepts connections, then retry; events not stored wait in "
                "the pending outbox.", kind=StorageErrorKind.OPEN)
        return StorageError(f"Database error on {label}: {detail}", kind=StorageErrorKind.ERROR)

    def connect(self, **settings) -> psycopg.Connection:
        try:
            conn = psycopg.connect(**self._params, autocommit=True)
        except psycopg.Error as exc:
            raise self.explain(exc) from None
        try:
            for name, value in settings.items():
                conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
        except psycopg.Error as exc:
            conn.close()
            raise self.explain(exc) from None
        return conn

    def write_session(self, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000,
                      create: bool = True) -> PgWriteSession:
        settings = {"lock_timeout": f"{int(busy_timeout_ms)}ms"}
        if synchronous.upper() != "FULL":  # like SQLite's NORMAL: the last commits may be lost
            settings["synchronous_commit"] = "off"  # on a server crash, never half-written
        session = PgWriteSession(self, settings)
        session.open(create)
        return session

    def reader(self, busy_timeout_ms: int = 10_000) -> "PgReadSession":
        pool = self._get_pool()
        try:
            conn = pool.getconn(timeout=POOL_WAIT_S)
            reader = PgReadSession(self, conn, pool.putconn)
        except PoolTimeout:  # all busy, or the server is not there: a connection of its own
            conn = self.connect(default_transaction_read_only="on")
            reader = PgReadSession(self, conn, lambda c: c.close())
        if not self._checked:
            try:
                _check_schema(conn, self.label, create=False)
            except BaseException:
                reader.close()
                raise
            self._checked = True
        return reader

    def _get_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._closed:
                raise StorageError(f"The database {self.label} was closed.",
                                   kind=StorageErrorKind.OPEN)
            if self._pool is None:
                self._pool = ConnectionPool(
                    kwargs={**self._params, "autocommit": True}, min_size=1, max_size=8,
                    open=False, name="faultsim-readers", timeout=POOL_WAIT_S,
                    check=ConnectionPool.check_connection, configure=_configure_reader,
                    reconnect_timeout=0)
                self._pool.open(wait=False)
            return self._pool

    def exists(self) -> bool:
        """True when the database holds faultsim's tables (reading commands never make them)."""
        conn = self.connect()
        try:
            return _has_meta(conn)
        except psycopg.Error as exc:
            raise self.explain(exc) from None
        finally:
            conn.close()

    def moved_away(self) -> StorageErrorKind | None:
        """Never: a server has no file that another could replace."""
        return None

    def data_version(self) -> str | None:
        """The server's current snapshot as text (``txid_current_snapshot``: the oldest
        transaction still running, the next one yet to be given an id, those running between).
        A transaction that writes gets an id, and its commit moves the snapshot, so an equal one
        later means nothing committed in between. Anything written anywhere on the server moves
        it too: then a reader only reads again. None when the server cannot be asked."""
        try:
            reader = self.reader()
        except StorageError:
            return None
        try:
            return reader._rows("SELECT txid_current_snapshot()::text")[0][0]
        except StorageError:
            return None
        finally:
            reader.close()

    def note_failure(self, error: StorageError) -> bool:
        """Nothing to remember: a lost connection is reopened by the session itself."""
        return False

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=10)


def _configure_reader(conn: psycopg.Connection) -> None:
    conn.execute("SET default_transaction_read_only = on")


__all__ = ["PgBackend", "PgWriteSession", "PgReadSession"]
