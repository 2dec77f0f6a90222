"""A body of events sent in one request (the HTTP server's POST /events): its events, what
makes it no body of events at all, and what became of each of its events once stored.
Transport-neutral: the shell turns a ``BodyEvents.problem`` or a ``BodyResult.verdict`` into
its status code and words."""
from __future__ import annotations

import enum
from typing import Callable, NamedTuple

from .exports import event_json
from .model import Candidate, Outcome, OutcomeRecord, Prepared, RejectCode, StoredEvent
from .parsing import split_text

_NOT_JSON = frozenset({RejectCode.INVALID_JSON, RejectCode.INVALID_UTF8, RejectCode.UTF16})
PROBLEMS_LISTED = 20  # a body that is not JSON: the first this many problems are listed


class BodyProblem(enum.Enum):
    EMPTY = "empty"  # nothing but white space
    NO_EVENT = "no_event"  # JSON text that holds no event (e.g. [])
    NOT_JSON = "not_json"  # no piece of it parses: nothing is stored or quarantined


class BodyEvents(NamedTuple):
    candidates: list[Candidate]
    problem: BodyProblem | None = None
    # where a NOT_JSON body fails: line, column, code and reason of its first pieces
    problems: list[dict] = []


def read_body(body: bytes, source: str) -> BodyEvents:
    """Split ``body`` into its events as ingestion does (one object, an array, NDJSON)."""
    if not body.strip():
        return BodyEvents([], BodyProblem.EMPTY)
    candidates = split_text(body, source)
    if not candidates:
        return BodyEvents([], BodyProblem.NO_EVENT)
    if all(c.rejection is not None and c.rejection.code in _NOT_JSON for c in candidates):
        return BodyEvents(candidates, BodyProblem.NOT_JSON, [
            {"line": c.rejection.line or c.line, "column": c.rejection.column or c.column,
             "code": c.rejection.code.value, "reason": str(c.rejection)}
            for c in candidates[:PROBLEMS_LISTED]])
    return BodyEvents(candidates)


class Verdict(enum.Enum):
    """What a body's events became, the first of these that applies."""

    NEW = "new"  # every event is stored, at least one of them by this request
    STORED_BEFORE = "stored_before"  # every event was stored before
    FAILED = "failed"  # some event's write failed: it waits in the pending outbox
    CONFLICT = "conflict"  # an event reused its own idempotency key for other content
    REJECTED = "rejected"  # some event was rejected; the others are stored


class BodyResult(NamedTuple):
    verdict: Verdict
    # NEW, STORED_BEFORE: each event's stored row (event_json); else each event's outcome
    events: list[dict]
    counts: dict[str, int]  # accepted, duplicates, rejected, failed


_COUNTED = (("accepted", Outcome.ACCEPTED), ("duplicates", Outcome.DUPLICATE),
            ("rejected", Outcome.REJECTED), ("failed", Outcome.FAILED))

_STORED = frozenset({Outcome.ACCEPTED, Outcome.DUPLICATE})


def body_result(records: list[OutcomeRecord], items: list[Prepared],
                rows: dict[int, StoredEvent],
                stored_code: Callable[[int], str | None]) -> BodyResult:
    """The result of a body's events: ``records`` their outcomes, ``items`` what was
    submitted, ``rows`` the stored rows by event id, ``stored_code(quarantine_id)`` the
    reject code of a rejection the store decided."""
    counts = {k: sum(1 for r in records if r.outcome is o) for k, o in _COUNTED}
    if {r.outcome for r in records} <= _STORED:
        verdict = Verdict.NEW if counts["accepted"] else Verdict.STORED_BEFORE
        return BodyResult(verdict, [event_json(rows[r.event_id]) for r in records], counts)
    results = []
    conflict = False
    for i, (r, p) in enumerate(zip(records, items)):
        if r.outcome in _STORED:
            results.append({"index": i, "outcome": r.outcome.value,
                            **event_json(rows[r.event_id])})
        elif r.outcome is Outcome.REJECTED:
            code = p.reject_code
            if code is None and r.quarantine_id is not None:  # decided by the store
                code = stored_code(r.quarantine_id)
            conflict = conflict or code == RejectCode.IDEMPOTENCY_CONFLICT.value
            item = {"index": i, "outcome": "rejected", "code": code, "reason": r.reason,
                    "line": p.line, "column": p.column, "quarantine_id": r.quarantine_id}
            if code == RejectCode.IDEMPOTENCY_CONFLICT.value:
                item["conflicts_with"] = r.event_id
            results.append(item)
        else:
            results.append({"index": i, "outcome": "failed", "reason": r.reason})
    verdict = (Verdict.FAILED if counts["failed"] else Verdict.CONFLICT if conflict
               else Verdict.REJECTED)
    return BodyResult(verdict, results, counts)
