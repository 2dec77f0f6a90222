"""Where a database is: a SQLite file path or a PostgreSQL URL, as people see it.

The shells name databases with these helpers (parse ``--db``, mask a password, is it
PostgreSQL); storage uses the same ones, and the outbox paths, without importing upward.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

URL_SCHEMES = ("postgresql://", "postgres://")


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


def outbox_path_for(db_path: Path) -> Path:
    """An SQLite database's pending outbox: a file beside it."""
    return db_path.with_name(db_path.name + ".outbox")


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


__all__ = ["URL_SCHEMES", "is_postgres_url", "parse_db", "mask_url", "url_password",
           "url_without_password", "data_dir", "pg_outbox_path", "outbox_path_for", "label_of",
           "short_label"]
