"""One storage interface, two implementations: SQLite (``store.py``, the default, one file) and
PostgreSQL (``pgstore.py``, a server that many processes may share).

``open_backend(db)`` picks by the string: ``postgresql://`` or ``postgres://`` selects
PostgreSQL, anything else is an SQLite file path. The writer and the service only use what the
protocols below list, so both backends give the same guarantees: a UNIQUE index decides
duplicates, aggregates change in the same transaction as their events, errors become
``StorageError`` with a kind the writer knows how to retry.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from .model import OutcomeRecord, Prepared
from .paging import PageQuery, ViewCount
from .store import ClientTotal, QuarantineEntry, ReadSession, WriteSession, connect

URL_SCHEMES = ("postgresql://", "postgres://")


class WriteSessionAPI(Protocol):
    """What the writer thread does with its connection (one thread only)."""

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def store_events(self, items: list[Prepared], attempt: int, now: str
                     ) -> list[OutcomeRecord]: ...
    def log_outcomes(self, records: list[OutcomeRecord]) -> None: ...
    def quarantine(self, raw: str | bytes, code: str, reason: str | None, source: str,
                   line: int, column: int, now: str, fingerprint: bytes | None = None
                   ) -> int: ...
    def set_quarantine_status(self, ids: Iterable[int], status: str) -> None: ...
    def record_answer(self, key: str, body_hash: bytes, status: int, answer: bytes, now: str,
                      expired_before: str) -> tuple[bytes, int, bytes]: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


class ReadSessionAPI(Protocol):
    """Queries for any thread; each reader is closed after use."""

    def stats(self) -> list[ClientTotal]: ...
    def group_by_events(self) -> list[ClientTotal]: ...
    def counts(self) -> dict[str, int]: ...
    def recent_log(self, limit: int = 100) -> list[tuple]: ...
    def event(self, event_id: int) -> dict | None: ...
    def events_by_id(self, ids: Iterable[int]) -> dict[int, tuple]: ...
    def events_page(self, client_key: str | None = None, since: str | None = None,
                    after: int = 0, limit: int = 100) -> list[tuple]: ...
    def iter_events(self, page: int = 10_000) -> Iterator[dict]: ...
    def quarantine(self, status: str | None = "open", limit: int = 1000
                   ) -> list[QuarantineEntry]: ...
    def quarantine_count(self, status: str | None = "open", text: str = "") -> ViewCount: ...
    def quarantine_page(self, status: str | None = "open", query: PageQuery = PageQuery()
                        ) -> list[QuarantineEntry]: ...
    def quarantine_entry(self, qid: int) -> QuarantineEntry | None: ...
    def answer(self, key: str, since: str) -> tuple[bytes, int, bytes] | None: ...
    def integrity_check(self) -> str: ...
    def close(self) -> None: ...


class Backend(Protocol):
    target: Path | str  # what opens this database again (another service, a child process)
    label: Path | str  # what messages and titles show: never a password
    is_file: bool  # a local SQLite file (identity checks, WAL, rescue copies apply)
    outbox_path: Path  # the pending outbox: always a local SQLite file

    def write_session(self, *, synchronous: str, busy_timeout_ms: int, create: bool
                      ) -> WriteSessionAPI: ...
    def reader(self, busy_timeout_ms: int) -> ReadSessionAPI: ...
    def exists(self) -> bool: ...
    def close(self) -> None: ...


def is_postgres_url(db: object) -> bool:
    return isinstance(db, str) and db.strip().lower().startswith(URL_SCHEMES)


def parse_db(text: str) -> Path | str:
    """``--db``'s type: a PostgreSQL URL stays text (a Path would fold its ``//``)."""
    return text.strip() if is_postgres_url(text) else Path(text)


def _without_password(url: str, replacement: str | None) -> str:
    url = url.strip()
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    user, at, _host = netloc.rpartition("@")
    if at and ":" in user:
        name = user.split(":", 1)[0]
        keep = f"{name}:{replacement}" if replacement is not None else name
        url = url.replace(f"{user}@", f"{keep}@", 1)
    pattern = r"([?&])password=[^&]*(&?)"
    if replacement is not None:
        return re.sub(pattern, lambda m: f"{m[1]}password={replacement}{m[2]}", url,
                      flags=re.IGNORECASE)
    return re.sub(pattern, lambda m: m[1] if m[2] else "", url, flags=re.IGNORECASE
                  ).rstrip("?&")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (in the user part and in the query)."""
    return _without_password(url, "***")


def url_password(url: str) -> str | None:
    """The password a URL carries, if any (to scrub it from any message)."""
    try:
        parts = urlsplit(url.strip())
        if parts.password:
            return unquote(parts.password)
    except ValueError:
        return None
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k.lower() == "password" and v:
            return v
    return None


def url_without_password(url: str) -> str:
    """What the window remembers: passwords belong in PGPASSWORD or ~/.pgpass, not settings."""
    return _without_password(url, None)


def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("faultsim-desktop", appauthor=False))


def pg_outbox_path(url: str) -> Path:
    """A PostgreSQL database's pending outbox: a local SQLite file in the user's data folder,
    named after a hash of the URL's connection parameters without the password (so every
    process on this machine that writes that database shares it, as with a database file)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if k != "password"}
    except Exception:  # noqa: BLE001 - an unparsable URL still gets its own outbox
        params = {"url": mask_url(url)}
    digest = hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", params.get("dbname", "db"))[:40]
    return data_dir() / "outbox" / f"pg-{name}-{digest}.outbox"


class _SQLiteReader(ReadSession):
    def __init__(self, path: Path, busy_timeout_ms: int):
        super().__init__(connect(path, write=False, busy_timeout_ms=busy_timeout_ms))

    def close(self) -> None:
        self.conn.close()


class SQLiteBackend:
    """The default: one SQLite file (WAL), its pending outbox beside it."""

    is_file = True

    def __init__(self, path: str | os.PathLike):
        from .retry import outbox_path_for

        self.target = self.label = self.path = Path(path)
        self.outbox_path = outbox_path_for(self.path)

    def write_session(self, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000,
                      create: bool = True) -> WriteSession:
        return WriteSession(connect(self.path, synchronous=synchronous,
                                    busy_timeout_ms=busy_timeout_ms, create=create))

    def reader(self, busy_timeout_ms: int = 10_000) -> _SQLiteReader:
        return _SQLiteReader(self.path, busy_timeout_ms)

    def exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        pass


def open_backend(db: "str | os.PathLike | Backend") -> Backend:
    """The backend for ``db``: PostgreSQL for a postgresql:// or postgres:// URL, else SQLite."""
    if hasattr(db, "write_session"):
        return db  # type: ignore[return-value]
    if is_postgres_url(db):
        from .pgstore import PgBackend  # psycopg is imported only when PostgreSQL is used

        return PgBackend(str(db).strip())
    return SQLiteBackend(db)  # type: ignore[arg-type]


def label_of(db: object) -> str:
    """``db`` as a person may see it: a path, or a URL with its password masked."""
    return mask_url(db) if is_postgres_url(db) else str(db)


def short_label(db: object) -> str:
    """A window title's name for ``db``: the file name, or "DBNAME on HOST (PostgreSQL)"."""
    if not is_postgres_url(db):
        return Path(str(db)).name
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(str(db))
    except Exception:  # noqa: BLE001 - an unparsable URL is shown masked, whole
        return mask_url(str(db))
    host = str(params.get("host") or "localhost")
    if host.startswith("/"):
        host = "local socket"
    return f"{params.get('dbname') or params.get('user') or 'postgres'} on {host} (PostgreSQL)"


__all__ = ["Backend", "ReadSessionAPI", "WriteSessionAPI", "SQLiteBackend", "open_backend",
           "is_postgres_url", "parse_db", "mask_url", "url_password", "url_without_password",
           "pg_outbox_path", "data_dir", "label_of", "short_label"]
