"""The storage error every layer sees, and the enum of what went wrong."""
from __future__ import annotations

import enum
from pathlib import Path


class StorageErrorKind(str, enum.Enum):
    """What kind of storage problem a ``StorageError`` reports; a ``str`` so that
    ``err.kind == "locked"`` holds as well as ``err.kind is StorageErrorKind.LOCKED``."""

    ERROR = "error"  # anything not listed below
    LOCKED = "locked"  # another writer holds the lock: retried
    READONLY = "readonly"  # the file, its folder or the server refuses writes
    FULL = "full"  # no disk space left
    CORRUPT = "corrupt"  # not a database, or a damaged one: never written again
    OPEN = "open"  # cannot be opened or reached
    IO = "io"  # a disk I/O error
    MISSING = "missing"  # deleted or moved away (or its tables dropped)
    REPLACED = "replaced"  # another file now has its name
    FOREIGN = "foreign"  # another program's database
    NEWER = "newer"  # written by a newer faultsim

    def __str__(self) -> str:
        return self.value


class StorageError(Exception):
    """A database problem explained for a person: what happened to which file, and what to do."""

    def __init__(self, message: str, *, path: Path | str | None = None,
                 kind: StorageErrorKind | str = StorageErrorKind.ERROR):
        super().__init__(message)
        self.path = path
        self.kind = StorageErrorKind(kind)


__all__ = ["StorageError", "StorageErrorKind"]
