"""Raw text or bytes -> candidate events, each with the line and column where it starts.

Two modes. When the first non-blank line is a complete JSON value by itself the input is JSON
Lines: every line is one event (or one array of events) and a broken line is rejected alone.
Otherwise it is a stream of values (pretty-printed objects one after another, or a top-level
array that may span gigabytes): a string-aware structural scanner finds the extent of each value
and splits a top-level array into its elements.

Files stream in ``Chunk``s of about a mebibyte: ``iter_chunks`` does the cheap sequential work
(finding line or value boundaries) and ``parse_chunk`` the expensive decoding, so chunks can be
shipped to worker processes. Memory stays flat: nothing ever holds more than about two chunks
plus one event (an event over the limit keeps only a 64 KiB prefix).
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator

from ..model import Candidate, Rejection
from .chunks import Chunk, iter_chunks, not_json_text, parse_chunk
from .decode import decode_value
from .scan import MAX_DEPTH, MAX_EVENT_BYTES, MAX_NUMBER_DIGITS, PREFIX_CHARS

__all__ = [
    "MAX_EVENT_BYTES", "MAX_DEPTH", "MAX_NUMBER_DIGITS", "Chunk", "decode_value", "split_text",
    "iter_chunks", "parse_chunk", "iter_file", "first_error", "not_json_text", "PREFIX_CHARS",
]


def iter_file(path_or_stream, source: str | None = None, *,
              whole_input: bool = True) -> Iterator[Candidate]:
    """Candidates of a file (path, or binary stream), streaming: parse_chunk over iter_chunks."""
    if isinstance(path_or_stream, (str, os.PathLike)):
        with open(path_or_stream, "rb") as f:
            src = source if source is not None else os.fspath(path_or_stream)
            for chunk in iter_chunks(f, src, whole_input=whole_input):
                yield from parse_chunk(chunk)
        return
    src = source if source is not None else str(getattr(path_or_stream, "name", "<stream>"))
    for chunk in iter_chunks(path_or_stream, src, whole_input=whole_input):
        yield from parse_chunk(chunk)


def _as_bytes(data: str | bytes) -> bytes:
    if isinstance(data, str):
        # a lone surrogate in pasted text becomes bytes that are reported as such
        return data.encode("utf-8", "surrogatepass")
    return bytes(data)


def split_text(data: str | bytes, source: str = "pasted") -> list[Candidate]:
    """All candidates of a whole in-memory input (pasted text, a request body: each piece is
    judged alone, as typed text is, with no refusal of the whole)."""
    return list(iter_file(io.BytesIO(_as_bytes(data)), source, whole_input=False))


def first_error(text: str) -> Rejection | None:
    """The first problem in ``text`` (with line and column), for an editor's live check."""
    for cand in iter_file(io.BytesIO(_as_bytes(text)), "pasted", whole_input=False):
        if cand.rejection is not None:
            return cand.rejection
    return None
