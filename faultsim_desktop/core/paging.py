"""Paged, sorted and filtered reads of the quarantine and the pending outbox.

The window's views page over the whole table instead of holding a fixed number of rows. Pages
are keyset pages: a page starts after the sort key of the last row already shown (the sort
columns, then the id), so rows arriving meanwhile never shift a page or show twice, and a deep
page costs what the first one does (there is no OFFSET to skip). The backends build their SQL
from the fragments below; the sort keys of a row come from :func:`sort_key`, so a caller never
needs to know a column's name in the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence


class ViewCount(NamedTuple):
    total: int  # every row the view covers (for the quarantine: of the status asked for)
    matching: int  # of those, the rows the text filter matches (equals total without a filter)


class SortColumn(NamedTuple):
    column: str  # the column in the database
    field: str  # the row's attribute holding its value
    text: bool = False  # compared as text (PostgreSQL then uses the "C" collation, as SQLite)


# Each sort orders by its columns, then by id, all in the same direction.
QUARANTINE_SORTS: dict[str, tuple[SortColumn, ...]] = {
    "id": (),
    "reason": (SortColumn("reason", "reason", True),),
    "source": (SortColumn("source", "source", True), SortColumn("line", "line")),
    "times_seen": (SortColumn("times_seen", "times_seen"),),
    "last_seen": (SortColumn("last_seen", "last_seen", True),),
    "status": (SortColumn("status", "status", True),),
}
PENDING_SORTS: dict[str, tuple[SortColumn, ...]] = {
    "id": (),
    "source": (SortColumn("source", "source", True), SortColumn("line", "line")),
    "attempts": (SortColumn("attempts", "attempts"),),
    "failed_at": (SortColumn("failed_at", "failed_at", True),),
    "last_error": (SortColumn("last_error", "last_error", True),),
}
# The text filter looks in these columns (raw: only where it is text, not undecodable bytes).
QUARANTINE_SEARCHED = ("reason", "source", "raw")
PENDING_SEARCHED = ("source", "last_error", "raw")


@dataclass(frozen=True)
class PageQuery:
    """One page: ``limit`` rows in the sort order, after the row whose sort key is ``after``
    (exclusive) and not beyond the row whose sort key is ``upto`` (inclusive)."""

    text: str = ""  # case-insensitive substring of the searched columns; "" matches every row
    sort: str = "id"
    descending: bool = True  # newest first
    after: tuple | None = None
    upto: tuple | None = None
    limit: int = 200


def sort_columns(sorts: dict[str, tuple[SortColumn, ...]], sort: str) -> tuple[SortColumn, ...]:
    try:
        return sorts[sort] + (SortColumn("id", "id"),)
    except KeyError:
        raise ValueError(f"cannot sort by {sort!r}; one of: {', '.join(sorts)}") from None


def sort_key(row: NamedTuple, sorts: dict[str, tuple[SortColumn, ...]], sort: str) -> tuple:
    """The values a row sorts by (its sort columns, then its id): a page's ``after``/``upto``."""
    return tuple(getattr(row, c.field) for c in sort_columns(sorts, sort))


def like_pattern(text: str) -> str:
    r"""``text`` as a LIKE pattern matching it anywhere, its own % _ and \ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_filter(columns: Sequence[str], text: str, mark: str, like: str = "LIKE"
                ) -> tuple[str, list]:
    """A condition true where any of ``columns`` (SQL expressions) contains ``text``, and its
    arguments. SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE of all."""
    pattern = like_pattern(text)
    condition = " OR ".join(f"{c} {like} {mark} ESCAPE '\\'" for c in columns)
    return f"({condition})", [pattern] * len(columns)


def status_and_text(status: str | None, columns: Sequence[str], text: str, mark: str,
                    like: str = "LIKE") -> tuple[list[str], list]:
    """WHERE conditions and their arguments for a view filtered by ``status`` (None: any)
    and by ``text`` (empty: none) in any of ``columns``."""
    where: list[str] = []
    args: list = []
    if status:
        where.append(f"status = {mark}")
        args.append(status)
    if text:
        condition, more = text_filter(columns, text, mark, like)
        where.append(condition)
        args.extend(more)
    return where, args


def keyset(columns: Sequence[SortColumn], query: PageQuery, mark: str, collate: str = ""
           ) -> tuple[list[str], list, str]:
    """WHERE conditions, their arguments and the ORDER BY list of one keyset page.

    ``mark`` is the driver's placeholder; ``collate`` the collation of text columns (PostgreSQL
    orders by the database's locale otherwise, SQLite always by code point)."""
    names = [f'{c.column} COLLATE "{collate}"' if collate and c.text else c.column
             for c in columns]
    row = f"({', '.join(names)})"
    marks = f"({', '.join([mark] * len(names))})"
    where: list[str] = []
    args: list = []
    for bound, when_descending, when_ascending in ((query.after, "<", ">"),
                                                   (query.upto, ">=", "<=")):
        if bound is not None:
            if len(bound) != len(names):
                raise ValueError(f"a sort key by {query.sort!r} has {len(names)} values, "
                                 f"not {len(bound)}")
            op = when_descending if query.descending else when_ascending
            where.append(f"{row} {op} {marks}")
            args.extend(bound)
    direction = " DESC" if query.descending else ""
    return where, args, ", ".join(n + direction for n in names)


__all__ = ["ViewCount", "SortColumn", "PageQuery", "QUARANTINE_SORTS", "PENDING_SORTS",
           "QUARANTINE_SEARCHED", "PENDING_SEARCHED", "sort_columns", "sort_key", "like_pattern",
           "text_filter", "keyset"]
