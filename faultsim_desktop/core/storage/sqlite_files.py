"""Watching the SQLite file under an open write connection: deleted, moved, replaced or made
read-only, it is let go of (its WAL emptied into it, a copy saved when nothing else reaches it)
and never written again; a corrupt file is refused until another file takes its name."""
from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..errors import StorageError, StorageErrorKind
from .common import explain, missing_error, readonly_error


class _Detachable(Protocol):
    detached: bool

    def release_wal(self) -> None: ...
    def copy_to(self, target: Path) -> None: ...
    def close(self) -> None: ...


def file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _whereabouts(identity: tuple[int, int] | None) -> tuple[int | None, str | None]:
    """How many names the open file ``identity`` has left (0: deleted) and its path now, or
    (None, None) when unknown. Linux: found among this process's descriptors, which reach a
    file even when it was moved or unlinked."""
    if identity is None or not os.path.isdir("/proc/self/fd"):
        return None, None
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None, None
    for fd in fds:
        link = f"/proc/self/fd/{fd}"
        try:
            st = os.stat(link)
            if (st.st_dev, st.st_ino) == identity:
                return st.st_nlink, os.readlink(link) if st.st_nlink else None
        except OSError:
            continue
    return None, None


class FileWatch:
    """What one writer knows about its database file across the connections it opens."""

    def __init__(self, path: Path):
        self.path = path
        # (st_dev, st_ino) of the file the write connection has open; None while it has none
        self.identity: tuple[int, int] | None = None
        self._kept: str | None = None  # where the data is since the file vanished under us
        self._corrupt: tuple[StorageError, tuple[int, int] | None] | None = None

    def before_open(self) -> None:
        """Refuse the damaged file while it is still the one at the path."""
        if self._corrupt is not None:
            error, identity = self._corrupt
            if file_identity(self.path) == identity:  # still the damaged file: never again
                raise error
            self._corrupt = None  # the user put another file there; connect() checks it

    def open_failed(self, exc: StorageError) -> StorageError:
        """An opening error, told with where the data went when the file vanished under us."""
        if self._kept is None:
            return exc
        return StorageError(f"{exc} {self._kept}", path=exc.path, kind=exc.kind)

    def opened(self) -> None:
        """Note the identity of the file just opened (gone already: reported missing)."""
        identity = file_identity(self.path)
        if identity is None:
            raise missing_error(self.path)
        self.identity = identity
        self._kept = None

    def moved_away(self) -> StorageErrorKind | None:
        """MISSING or REPLACED when the path no longer names the file the writer has open."""
        identity = self.identity
        if identity is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return StorageErrorKind.MISSING
        return StorageErrorKind.REPLACED if (st.st_dev, st.st_ino) != identity else None

    def check(self, session: _Detachable) -> None:
        """Before each write: the path must still name the file we opened, and be writable.

        SQLite writes on into a file that was deleted or replaced while open (the data is then
        lost for the user) and into one made read-only after it was opened; one os.stat per
        batch catches all three.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise self._detach(session, StorageErrorKind.MISSING) from None
        except OSError as exc:
            raise explain(exc, self.path) from exc
        if (st.st_dev, st.st_ino) != self.identity:
            raise self._detach(session, StorageErrorKind.REPLACED)
        if not os.access(self.path, os.W_OK):
            raise readonly_error(self.path)

    def note_failure(self, error: StorageError) -> bool:
        """Remember a corrupt file so that it is never written again; True when the write
        connection must be closed."""
        if error.kind is not StorageErrorKind.CORRUPT or self._corrupt is not None:
            return False
        self._corrupt = (error, self.identity or file_identity(self.path))
        self.identity = None
        return True

    def _detach(self, s: _Detachable, kind: StorageErrorKind) -> StorageError:
        """Stop using a file that vanished or was replaced under us: empty our WAL into it
        (so it cannot be paired with the next file at that name), save a copy when no name
        reaches it any more, and close it."""
        s.detached = True
        old, self.identity = self.identity, None
        try:
            try:
                s.release_wal()
            except sqlite3.Error:
                pass  # best effort: the copy below still reads everything through this connection
            links, now_at = _whereabouts(old)
            if links:  # moved or hard-linked: complete where it now is
                self._kept = f"It is complete at {now_at}." if now_at else None
            else:  # deleted (or cannot tell): the open connection holds the only copy
                try:
                    self._kept = (f"Everything stored until then was saved to "
                                  f"{self._rescue(s)}.")
                except (sqlite3.Error, OSError) as exc:
                    self._kept = f"A copy of it could not be saved ({exc})."
        finally:
            s.close()
        path = self.path
        if kind is StorageErrorKind.MISSING:
            what = f"The database {path} was deleted or moved away while faultsim had it open."
        else:
            what = (f"The database {path} was replaced by another file while faultsim had it "
                    "open; faultsim never writes into a file that is not a faultsim database.")
        parts = [what,
                 ("Nothing more is written to it; events not stored wait in the pending "
                  "outbox."),
                 self._kept,
                 ("Put the database back, or open or create another one, then retry the pending "
                  "events.")]
        return StorageError(" ".join(p for p in parts if p), path=path, kind=kind)

    def _rescue(self, s: _Detachable) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{self.path.stem}.rescued-{stamp}{self.path.suffix or '.db'}"
        error: Exception | None = None
        for folder in (self.path.parent, Path(tempfile.gettempdir())):
            for n in range(100):
                target = folder / (name if n == 0 else name.replace(".rescued-", f".rescued{n}-"))
                if target.exists():
                    continue
                try:
                    s.copy_to(target)
                    return target
                except (sqlite3.Error, OSError) as exc:
                    error = exc
                    break
        raise OSError(f"no folder took the copy: {error}")


__all__ = ["FileWatch", "file_identity"]
