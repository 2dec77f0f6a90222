"""Questions about a database the shells may ask without reaching into storage."""
from __future__ import annotations

import os

from .storage import open_backend


def database_exists(db: str | os.PathLike) -> bool:
    """Whether ``db`` holds a database already: a file at that path, or faultsim's tables on
    the PostgreSQL server (reading commands never create one)."""
    backend = open_backend(db)
    try:
        return backend.exists()
    finally:
        backend.close()


__all__ = ["database_exists"]
