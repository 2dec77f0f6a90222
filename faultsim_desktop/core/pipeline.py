"""The CPU stage: candidates -> Prepared (normalized, fingerprinted) events.

``process_chunk_packed`` is what worker processes run (``LazyRows`` carries its answer to the
parent's writer thread, which takes it apart); it imports nothing but the Qt-free core, so
spawning a worker from the window's process is cheap and safe. The clients' mappings travel
with each chunk as a plain ``Registry`` (None when there are none).
"""
from __future__ import annotations

import marshal
from itertools import repeat
from typing import Iterable

from .fingerprint import NotCanonicalizable, bucket_of, fingerprint, time_bucket
from .model import Candidate, ImportTag, Prepared, RejectCode, RejectedEvent, Rejection
from .normalize import TIME_TIE, normalize_with_time_value
from .fastlane import process_items, process_lines, rejected_row
from .parsing import Chunk
from .schemas import Registry, normalize_event


def _rejected(c: Candidate, rejection: Rejection) -> Prepared:
    if rejection.line is None:
        rejection = Rejection(rejection.code, rejection.message, c.line, c.column)
    return Prepared(c.text, c.source, c.line, c.column, reject_code=rejection.code.value,
                    reason=str(rejection))


def prepare_one(c: Candidate, received_at: str, outbox_id: int | None = None,
                registry: Registry | None = None, tag: ImportTag | None = None) -> Prepared:
    """One candidate through normalization (by its client's mapping when ``registry`` has
    one) and fingerprinting; ingestion and the schema preview both use it. ``tag`` names
    the import the event belongs to."""
    if tag is not None:
        return _prepare_one(c, received_at, outbox_id, registry)._replace(import_tag=tag)
    return _prepare_one(c, received_at, outbox_id, registry)


def _prepare_one(c: Candidate, received_at: str, outbox_id: int | None,
                 registry: Registry | None) -> Prepared:
    if c.rejection is not None:
        return _rejected(c, c.rejection)._replace(outbox_id=outbox_id)
    try:
        fp = fingerprint(c.obj)
    except NotCanonicalizable as exc:
        return _rejected(c, Rejection(RejectCode.UNPAIRED_SURROGATE, str(exc)))._replace(
            outbox_id=outbox_id)
    try:
        ev, version = normalize_event(c.obj, received_at=received_at, registry=registry)
    except RejectedEvent as exc:
        return _rejected(c, exc.rejection)._replace(fingerprint=fp, outbox_id=outbox_id)
    return Prepared(c.text, c.source, c.line, c.column, fingerprint=fp, client=ev.client,
                    client_key=ev.client_key, amount=format(ev.amount, "f"),
                    currency=ev.currency, event_time=ev.event_time or received_at,
                    idempotency_key=ev.idempotency_key, warnings=ev.warnings,
                    outbox_id=outbox_id, mapping_version=version,
                    time_bucket=time_bucket(c.obj))


def prepare(candidates: Iterable[Candidate], received_at: str,
            registry: Registry | None = None, tag: ImportTag | None = None) -> list[Prepared]:
    return [prepare_one(c, received_at, None, registry, tag) for c in candidates]


def process_chunk(chunk: Chunk, received_at: str, registry: Registry | None = None,
                  tag: ImportTag | None = None) -> list[tuple]:
    """The rows of one chunk: plain tuples in Prepared's field order (a NamedTuple costs a
    Python-level ``__new__`` per item), the same rows as ``prepare_one`` makes of each
    candidate ``parse_chunk`` finds."""
    return _with_tag(chunk_rows(chunk, received_at, registry), tag)


def process_chunk_packed(chunk: Chunk, received_at: str,
                         registry: Registry | None = None) -> tuple[int, bytes | list[tuple]]:
    """What a worker process sends back: how many rows, and ``chunk_rows`` as one marshal
    payload (a third of pickle's cost: no memo of every string), or the rows themselves
    should one ever hold a value marshal cannot write. ``unpack_rows`` (or ``LazyRows``) makes
    ``process_chunk``'s rows of it."""
    return pack_rows(chunk_rows(chunk, received_at, registry))


def pack_rows(rows: list[tuple]) -> tuple[int, bytes | list[tuple]]:
    try:
        return len(rows), marshal.dumps(rows)
    except ValueError:
        return len(rows), rows


def unpack_rows(packed: tuple[int, bytes | list[tuple]], tag: ImportTag | None) -> list[tuple]:
    """``process_chunk``'s rows from ``process_chunk_packed``'s answer; every row carries
    the one ``tag`` object (the writer tells an import's runs of events apart by identity)."""
    payload = packed[1]
    # the payload comes from a worker process of this very interpreter, never from outside
    return _with_tag(marshal.loads(payload) if type(payload) is bytes else payload, tag)


class LazyRows:
    """A worker's answer, its rows taken apart (``unpack_rows``) where they are first used.

    The ingest's main thread hands these to the writer thread, which unpacks them. Unpacked in
    the main thread, each chunk's ``marshal.loads`` (one C call of a millisecond or two,
    holding the GIL throughout) kept the writer, the ingest's serial stage, waiting for the
    GIL whenever it came back from SQLite meanwhile (docs/benchmarks.md, "The writer's wait
    for the GIL"). The writer holds the GIL for its own Python anyway."""

    __slots__ = ("_count", "_packed", "_tag", "_rows")

    def __init__(self, packed: tuple[int, bytes | list[tuple]], tag: ImportTag | None):
        self._count = packed[0]
        self._packed = packed
        self._tag = tag
        self._rows: list[tuple] | None = None

    def __len__(self) -> int:
        return self._count

    def rows(self) -> list[tuple]:
        rows = self._rows
        if rows is None:
            rows = self._rows = unpack_rows(self._packed, self._tag)
            self._packed = None
        return rows

    def __iter__(self):
        return iter(self.rows())

    def __getitem__(self, index):
        return self.rows()[index]


def _with_tag(rows: list[tuple], tag: ImportTag | None) -> list[tuple]:
    return list(map(tuple.__add__, rows, repeat((tag,), len(rows))))  # in C: no loop here


def chunk_rows(chunk: Chunk, received_at: str, registry: Registry | None = None) -> list[tuple]:
    """The rows of one chunk without their last field, the import tag (``process_chunk``)."""
    out: list[tuple] = []
    registry = registry or None

    def prepare_candidate(c: Candidate, out: list) -> None:
        _process_candidate(c, received_at, registry, out)

    if chunk.items:
        process_items(chunk.items, chunk.source, received_at, registry, out, prepare_candidate)
    if chunk.data:
        process_lines(chunk.data, chunk.source, chunk.line, chunk.offset, received_at,
                      registry, out, prepare_candidate)
    return out


def _process_candidate(c: Candidate, received_at: str, registry: Registry | None,
                       out: list) -> None:
    """``prepare_one`` as a plain tuple without the tag, with normalization's scan serving
    the time bucket."""
    if c.rejection is not None:
        out.append(rejected_row(c.text, c.source, c.line, c.column, c.rejection))
        return
    obj = c.obj
    try:
        fp = fingerprint(obj)
    except NotCanonicalizable as exc:
        out.append(rejected_row(c.text, c.source, c.line, c.column,
                                Rejection(RejectCode.UNPAIRED_SURROGATE, str(exc))))
        return
    try:
        if registry is None:  # normalization's scan of the keys serves the bucket too
            ev, value = normalize_with_time_value(obj, received_at=received_at)
            version = None
            bucket = time_bucket(obj) if value is TIME_TIE else bucket_of(value)
        else:
            ev, version = normalize_event(obj, received_at=received_at, registry=registry)
            bucket = time_bucket(obj)
    except RejectedEvent as exc:
        out.append(rejected_row(c.text, c.source, c.line, c.column, exc.rejection, fp))
        return
    client, client_key, amount, currency, event_time, idem, warnings = ev
    out.append((c.text, c.source, c.line, c.column, fp, client, client_key, format(amount, "f"),
                currency, event_time or received_at, idem, warnings, None, None, None, version,
                bucket))
