"""Format and Compact for the editor: re-indent JSON without changing a single value.

Numbers keep their exact text and objects keep duplicate keys and key order, so formatting
never changes what an event means (nor its fingerprint).
"""
from __future__ import annotations

import json


class _Num(str):
    """A number kept as the text it was written with."""


class _Pairs(list):
    """An object as its ordered list of (key, value) pairs, duplicates included."""


_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_float=_Num, parse_int=_Num,
                            parse_constant=_Num)
_WS = " \t\r\n"


def documents(text: str) -> list:
    """Every JSON value in ``text`` (one, or several separated by whitespace, as in NDJSON).

    Raises ``ValueError`` when the text is not a sequence of JSON values.
    """
    text = text.lstrip("\ufeff")
    out, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in _WS:
            i += 1
        if i >= n:
            return out
        value, i = _DECODER.raw_decode(text, i)
        out.append(value)


def _dump(v, indent: str | None, level: int) -> str:
    if isinstance(v, _Num):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, _Pairs):
        items = [json.dumps(k, ensure_ascii=False) + (": " if indent is not None else ":")
                 + _dump(x, indent, level + 1) for k, x in v]
        return _wrap("{", "}", items, indent, level)
    return _wrap("[", "]", [_dump(x, indent, level + 1) for x in v], indent, level)


def _wrap(open_, close, items, indent, level) -> str:
    if not items:
        return open_ + close
    if indent is None:
        return open_ + ",".join(items) + close
    pad = indent * (level + 1)
    return open_ + "\n" + ",\n".join(pad + it for it in items) + "\n" + indent * level + close


def format_text(text: str) -> str:
    """Pretty-print: one value as itself; several values (NDJSON) as one array."""
    docs = documents(text)
    value = docs[0] if len(docs) == 1 else docs
    return _dump(value, "  ", 0) + "\n"


def compact_text(text: str) -> str:
    """One event per line (NDJSON): a top-level array is split into its elements."""
    docs = documents(text)
    if len(docs) == 1 and isinstance(docs[0], list) and not isinstance(docs[0], _Pairs):
        docs = docs[0]
    return "".join(_dump(d, None, 0) + "\n" for d in docs)
