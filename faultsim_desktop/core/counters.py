"""What became of submitted events: a submission's Ticket and Summary, and the outcome
counters of one service."""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Iterable

from .model import Outcome, OutcomeRecord, Prepared

_outcome_of = attrgetter("outcome")


def count_outcomes(records: Iterable[OutcomeRecord]) -> Counter:
    return Counter(map(_outcome_of, records))  # Counter and map count in C


@dataclass
class Summary:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    # inputs refused as a whole (not JSON text, UTF-16): "<source>: looks like a PNG image..."
    refused: tuple[str, ...] = ()

    def add(self, records: Iterable[OutcomeRecord]) -> None:
        self.add_counts(count_outcomes(records))

    def add_counts(self, counts: Counter) -> None:
        self.accepted += counts[Outcome.ACCEPTED]
        self.duplicates += counts[Outcome.DUPLICATE]
        self.rejected += counts[Outcome.REJECTED]
        self.failed += counts[Outcome.FAILED]

    @property
    def finished(self) -> int:
        return self.accepted + self.duplicates + self.rejected + self.failed

    def as_dict(self) -> dict:
        keys = ("received", "accepted", "duplicates", "rejected", "failed", "pending")
        return {k: getattr(self, k) for k in keys}


class Ticket:
    """Tracks the outcomes of one submission; ``wait`` returns its Summary."""

    def __init__(self) -> None:
        self.summary = Summary()
        self.records: list[OutcomeRecord] | None = None
        self.items: list[Prepared] | None = None  # what was submitted, when records are kept
        # the writer epoch its events were written under; None when its jobs saw several
        self.epoch: object = None
        self._epochs = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._sealed = False
        self._started = time.perf_counter()

    def keep_records(self) -> "Ticket":
        self.records = []
        return self

    def note_epoch(self, epoch: object) -> None:
        with self._lock:
            self._epochs += 1
            self.epoch = epoch if self._epochs == 1 or self.epoch == epoch else None

    def expect(self, n: int) -> None:
        with self._lock:
            self.summary.received += n

    def add(self, records: list[OutcomeRecord]) -> None:
        counts = count_outcomes(records)  # outside the lock: readers never wait on a loop
        with self._lock:
            self.summary.add_counts(counts)
            if self.records is not None:
                self.records.extend(records)
            self._check()

    def seal(self, cancelled: bool = False) -> None:
        with self._lock:
            self._sealed = True
            self.summary.cancelled = self.summary.cancelled or cancelled
            self._check()

    def discard(self, n: int) -> None:
        """``n`` queued events were dropped on Cancel before any of them was written."""
        with self._lock:
            self.summary.received -= n
            self.summary.cancelled = True
            self._check()

    def _check(self) -> None:
        if self._sealed and self.summary.finished >= self.summary.received:
            self.summary.seconds = time.perf_counter() - self._started
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Summary:
        if not self._done.wait(timeout):
            raise TimeoutError("outcomes did not arrive in time")
        return self.summary


_SETTLED = frozenset({Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED})


@dataclass
class SessionCounters:
    """What became of the events sent through one service, each counted once by its final
    outcome: an event that failed and waits in the pending outbox counts as failed until a
    retry settles it, then as what the retry found (accepted when its own earlier commit,
    whose acknowledgement was lost, is what the retry finds)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    # accepted events that left the database again, net, because an import was undone here:
    # accepted minus undone is what this session added
    undone: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # outbox ids of the events counted in ``failed`` (a FAILED outcome with no id stays failed)
    _waiting: set = field(default_factory=set, repr=False)

    def add(self, records: list[OutcomeRecord]) -> None:
        counts = count_outcomes(records)  # outside the lock: the window reads these often
        with self._lock:
            if counts[Outcome.FAILED] or self._waiting:
                counts = self._settle(records, counts)
            self.accepted += counts[Outcome.ACCEPTED]
            self.duplicates += counts[Outcome.DUPLICATE]
            self.rejected += counts[Outcome.REJECTED]
            self.failed += counts[Outcome.FAILED]
            self.retries += counts[Outcome.RETRYING]

    def _settle(self, records: list[OutcomeRecord], counts: Counter) -> Counter:
        """Outcomes about pending outbox entries: a FAILED again is not a second failure, and
        a final outcome takes its event out of ``failed``."""
        waiting = self._waiting
        for r in records:
            oid = r.outbox_id
            if oid is None:
                continue
            if r.outcome is Outcome.FAILED:
                if oid in waiting:
                    counts[Outcome.FAILED] -= 1
                else:
                    waiting.add(oid)
            elif r.outcome in _SETTLED and oid in waiting:
                waiting.discard(oid)
                self.failed -= 1
        return counts

    def note_undone(self, n: int) -> None:
        with self._lock:
            self.undone += n

    def forget_waiting(self) -> None:
        """The outbox was emptied (a reset): what waited there is gone, not failed."""
        with self._lock:
            self.failed -= len(self._waiting)
            self._waiting.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"accepted": self.accepted, "duplicates": self.duplicates,
                    "rejected": self.rejected, "failed": self.failed, "retries": self.retries,
                    "undone": self.undone}
