"""What both storage backends share, written once: exact sums, raw text as it is kept,
receipts, content fingerprints, and the wording of storage errors about a file."""
from __future__ import annotations

import errno
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from pathlib import Path

from ..errors import StorageError, StorageErrorKind
from ..fingerprint import NotCanonicalizable, fingerprint
from ..parsing import decode_value
from ..retry import RECEIPT_STEP, receipt_attempt

# Sums must never round silently: any inexact result raises instead.
MONEY = Context(prec=1000, traps=[Inexact, InvalidOperation, Overflow])


def explain(exc: BaseException, path: Path) -> StorageError:
    """Turn a sqlite3/OS error into a StorageError naming the file and the remedy."""
    text = str(exc).lower()
    if isinstance(exc, StorageError):
        return exc
    if "locked" in text or "busy" in text:
        return StorageError(
            f"The database {path} is locked by another program. Close that program (or let it "
            "finish) and retry; events not stored wait in the pending outbox.",
            path=path, kind=StorageErrorKind.LOCKED)
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        return readonly_error(path)
    if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return StorageError(
            f"The disk holding {path} is full (or the database reached its size limit). "
            "Free some space and retry; events not stored wait in the pending outbox.",
            path=path, kind=StorageErrorKind.FULL)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StorageError(
            f"The file {path} is not a faultsim database or is damaged ({exc}). It was left as "
            "it was and nothing more is written to it; open or create another database "
            "(events not stored wait in the pending outbox).", path=path,
            kind=StorageErrorKind.CORRUPT)
    if "unable to open" in text or isinstance(exc, (FileNotFoundError, IsADirectoryError,
                                                    NotADirectoryError, FileExistsError)):
        return StorageError(
            f"The database {path} cannot be opened ({exc}). Check that its folder exists and "
            "is writable, or choose another database.", path=path, kind=StorageErrorKind.OPEN)
    if "disk i/o" in text:
        return StorageError(
            f"Reading or writing {path} failed (disk I/O error). Check the disk; events not "
            "stored wait in the pending outbox.", path=path, kind=StorageErrorKind.IO)
    return StorageError(f"Database error on {path}: {exc}", path=path, kind=StorageErrorKind.ERROR)


def readonly_error(path: Path, folder: bool = False) -> StorageError:
    if folder:
        return StorageError(
            f"The folder {path.parent} holding the database {path} is read-only; SQLite needs "
            f"to create {path.name}-wal and {path.name}-shm (and the pending outbox) beside it. "
            "Make the folder writable, or choose another database.", path=path,
            kind=StorageErrorKind.READONLY)
    return StorageError(
        f"The database {path} is read-only. Make it writable (for example chmod u+w), or "
        "choose another database; events not stored wait in the pending outbox.",
        path=path, kind=StorageErrorKind.READONLY)


def missing_error(path: Path) -> StorageError:
    return StorageError(
        f"The database {path} is missing: it was deleted or moved away. Put the database "
        "back, or open or create another one; events not stored wait in the pending outbox.",
        path=path, kind=StorageErrorKind.MISSING)



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

def apply_migrations(conn, migrations: dict, version: int, latest: int) -> None:
    """Bring a schema at ``version`` to ``latest``: each step's statements (SQL text, or a
    function of the connection for what SQL alone cannot do) in order."""
    for target in range(version + 1, latest + 1):
        for statement in migrations[target]:
            if callable(statement):
                statement(conn)
            else:
                conn.execute(statement)


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

