"""Plain data types shared by every stage of the engine (no behaviour, no I/O)."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple


class RejectCode(str, enum.Enum):
    """Why an input or an event was rejected; the value is stable and stored."""

    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    UTF16 = "utf16"
    NOT_JSON = "not_json"  # a whole input that is no JSON text at all (an image, Markdown...)
    NOT_AN_OBJECT = "not_an_object"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    NUMBER_TOO_LONG = "number_too_long"
    NON_FINITE_NUMBER = "non_finite_number"
    DUPLICATE_KEY = "duplicate_key"
    UNPAIRED_SURROGATE = "unpaired_surrogate"
    NO_CLIENT = "no_client"
    BAD_CLIENT = "bad_client"
    NO_AMOUNT = "no_amount"
    BAD_AMOUNT = "bad_amount"
    CURRENCY_CONFLICT = "currency_conflict"
    BAD_IDEMPOTENCY_KEY = "bad_idempotency_key"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    MAPPING_FIELD_MISSING = "mapping_field_missing"  # a field a client's mapping names is absent
    BAD_TIME = "bad_time"  # a mapped time field that does not hold its mapping's time format
    # its fingerprint's first 128 bits (the UNIQUE key) match a stored event with other content
    FINGERPRINT_COLLISION = "fingerprint_collision"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A typed rejection: what is wrong and, where known, where (1-based line and column)."""

    code: RejectCode
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is not None and self.column is not None:
            return f"line {self.line}, column {self.column}: {self.message}"
        if self.line is not None:
            return f"line {self.line}: {self.message}"
        return self.message


class RejectedEvent(Exception):
    """Raised by normalization; carries the typed rejection."""

    def __init__(self, rejection: Rejection):
        super().__init__(str(rejection))
        self.rejection = rejection


class Candidate(NamedTuple):
    """One event as split out of raw input: either a parsed object or a rejection.

    ``text`` is the event's own raw text (a line, an array element, a pretty-printed object);
    ``line``/``column`` are where it starts in the source (1-based). Numbers inside ``obj`` are
    ``int`` or ``Decimal`` (never ``float``). A NamedTuple: millions are made per run.
    """

    text: str | bytes
    source: str
    line: int
    column: int = 1
    obj: dict | None = None
    rejection: Rejection | None = None


class NormalizedEvent(NamedTuple):
    client: str  # display form: NFC, trimmed, whitespace collapsed
    client_key: str  # grouping key: casefold of the display form
    amount: Decimal
    currency: str | None  # ISO 4217 code or None
    event_time: str | None  # ISO 8601 UTC ("2024-01-02T03:04:05.000000Z") or None if unknown
    idempotency_key: str | None = None
    warnings: tuple[str, ...] = ()


class Outcome(str, enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    # storage failed (or no acknowledgement came back) on every attempt; the event waits in the
    # pending outbox until a retry settles it
    FAILED = "failed"
    RETRYING = "retrying"  # not final: a write attempt failed and will be tried again


class Prepared(NamedTuple):
    """One event after the CPU stage (parse, normalize, fingerprint), ready for the writer.

    A plain tuple so that it pickles cheaply between worker processes. ``reject_code`` is set
    (and the event fields are None) when the event was rejected before storage.
    """

    raw: str | bytes
    source: str
    line: int
    column: int
    fingerprint: bytes | None = None
    client: str | None = None
    client_key: str | None = None
    amount: str | None = None  # plain decimal text, exact
    currency: str | None = None
    event_time: str | None = None
    idempotency_key: str | None = None
    warnings: tuple[str, ...] = ()
    reject_code: str | None = None
    reason: str | None = None
    outbox_id: int | None = None  # set when the event comes back from the pending outbox
    mapping_version: int | None = None  # the client's mapping that normalized it; None: heuristics
    time_bucket: int | None = None  # fingerprint.time_bucket: set for every event to be stored
    import_tag: "ImportTag | None" = None  # the import it belongs to (None: none recorded)


OUTBOX_ID = Prepared._fields.index("outbox_id")  # the writer reads plain tuples by position


class OutcomeRecord(NamedTuple):
    """What happened to one submitted event: published to subscribers and kept in the log."""

    at: str  # ISO UTC time of the outcome
    outcome: Outcome
    client: str | None
    amount: str | None
    currency: str | None
    fingerprint: bytes | None
    attempt: int
    reason: str | None
    source: str
    line: int
    event_id: int | None = None  # the stored event (the original one for a duplicate)
    quarantine_id: int | None = None
    # the pending outbox entry this outcome is about: set on FAILED (where the event waits) and
    # on every outcome of a retry from the outbox, so counters can settle the earlier FAILED
    outbox_id: int | None = None
    import_tag: "ImportTag | None" = None  # the import the event belongs to


class ImportTag(NamedTuple):
    """What names one import (a file, a paste, an HTTP request...) before its row exists: its
    events carry it to the writer, into worker processes and into the pending outbox, and the
    write transaction that stores the first of them creates the ``imports`` row."""

    uid: int  # random, so two processes never give two imports the same one
    source: str
    kind: str  # file, paste, http, resubmit, demo...
    started_at: str
    faults: str  # the fault settings in force when it started

    def to_json(self) -> str:
        return json.dumps(list(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> "ImportTag | None":
        if not text:
            return None
        try:
            return cls(*json.loads(text))
        except (ValueError, TypeError):
            return None


class ImportRow(NamedTuple):
    """One import as ``faultsim imports list`` shows it. The counts are read off the stored
    rows (events, log), so an undo that hands an event to a later import shows there at once;
    an undone import keeps the counts it had when it was undone."""

    id: int
    uid: int
    source: str
    kind: str
    started_at: str
    finished_at: str | None
    faults: str
    undone_at: str | None
    received: int
    accepted: int
    duplicates: int
    rejected: int
    failed: int
    pending: int

    def as_dict(self) -> dict:
        d = self._asdict()
        d["undone"] = self.undone_at is not None
        return d


class UndoResult(NamedTuple):
    """What an undo changed: events removed, copies handed to later imports, conflicts
    accepted in their place; ``already`` when the import was undone before."""

    import_id: int
    removed: int
    handed_over: int
    conflicts_accepted: int
    already: bool = False


class ClientTotal(NamedTuple):
    """One client's total in one currency (``currency`` None: amounts without one)."""

    client: str
    currency: str | None
    count: int
    total: Decimal
    first_seen: str
    last_seen: str


class QuarantineEntry(NamedTuple):
    """A rejected input, kept once per raw text with why and where it was rejected."""

    id: int
    raw: str | bytes
    code: str
    reason: str
    source: str
    line: int
    column: int
    first_seen: str
    last_seen: str
    times_seen: int
    status: str


class StoredEvent(NamedTuple):
    """A stored event as lists and pages show it (``currency`` None: none given)."""

    id: int
    fingerprint: bytes
    client: str
    currency: str | None
    amount: str  # exact decimal text
    event_time: str
    received_at: str
    idempotency_key: str | None
    warnings: str | None  # JSON list, or None
    source: str
    line: int


class LogRow(NamedTuple):
    """One line of the outcome log as ``recent_log`` lists it: an accepted event (from the
    events table) or another outcome (from the log table)."""

    at: str
    outcome: str
    client: str | None
    amount: str | None
    currency: str | None
    fingerprint: bytes | None  # the first 8 bytes
    attempt: int | None
    reason: str | None
    source: str | None
    line: int | None
    event_id: int | None
    quarantine_id: int | None
