"""The single writer thread: owns the write connection, batches, transactions, outcomes."""
from __future__ import annotations

import logging
import queue
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Callable, Sequence

from .faults import FaultPoint, FaultSwitch, InjectedFault, sleep_unless
from .model import OUTBOX_ID, Outcome, OutcomeRecord, Prepared
from .retry import RECEIPT_STEP, Outbox, RetryPolicy, new_tickets, receipt_ticket
from .errors import StorageError, StorageErrorKind
from .storage import WriteSessionAPI, open_backend

log = logging.getLogger(__name__)

_FINAL = (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED)
# Problems of the database itself: nothing is written to it while they last (not even a log row).
_FILE_KINDS = frozenset({StorageErrorKind.READONLY, StorageErrorKind.MISSING,
                         StorageErrorKind.REPLACED, StorageErrorKind.CORRUPT})
# Problems a look at the database shows are over (the pending events still wait for a retry).
_SEEN_OVER = _FILE_KINDS | {StorageErrorKind.FOREIGN, StorageErrorKind.NEWER,
                            StorageErrorKind.OPEN}
# What a failed write raises: a backend's StorageError, an SQLite or OS error (the SQLite
# backend's, and the pending outbox's, which is a local SQLite file on every backend), or a
# simulated fault.
_FAILURES = (StorageError, OSError, sqlite3.Error, InjectedFault)


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class WriteJob:
    items: Sequence[Prepared]  # a list, or a worker's LazyRows: taken apart by the writer
    on_done: Callable[[list[OutcomeRecord]], None] | None = None
    # a command instead of events: a callable run with the write session inside a transaction
    command: Callable[[WriteSessionAPI], object] | None = None
    # set when the submitter cancelled: a job still queued then is dropped, never half-written
    cancel: threading.Event | None = None
    on_cancelled: Callable[[int], None] | None = None
    # more jobs of the same bulk ingest follow soon (see Writer._coalesce)
    more_coming: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


_STOP = object()


def _check_only(session: WriteSessionAPI) -> None:
    """The command of a check job: only look at the file (see Writer.request_check)."""


class Writer(threading.Thread):
    """Drains a bounded queue of jobs; coalesces them into transactions of ``batch_size``.

    Each transaction stores events, quarantine rows, aggregate updates and log rows together;
    a failure anywhere rolls all of it back and the batch is retried per ``policy``. Batches
    whose retries run out go to the pending outbox with outcome FAILED.
    """

    def __init__(self, db_path: Path, outbox: Outbox, faults: FaultSwitch, policy: RetryPolicy,
                 publish: Callable[[list[OutcomeRecord]], None], *, batch_size: int = 50000,
                 queue_jobs: int = 24, synchronous: str = "FULL", seed: int | None = None,
                 busy_timeout_ms: int = 10_000, bulk_min: int = 20_000,
                 bulk_wait: float = 0.5):
        super().__init__(name="faultsim-writer", daemon=True)
        self.backend = open_backend(db_path)  # a path or URL, or the service's backend
        self.db_path = self.backend.label  # the file, or the URL with its password masked
        self.outbox = outbox
        self.faults = faults
        self.policy = policy
        self.publish = publish
        self.batch_size = batch_size
        self.bulk_min = bulk_min
        self.bulk_wait = bulk_wait
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.queue: queue.Queue = queue.Queue(maxsize=queue_jobs)
        self._stopping = threading.Event()
        self._rng = random.Random(seed)
        self._session: WriteSessionAPI | None = None
        self.ready = threading.Event()
        self.open_error: StorageError | None = None
        self.queued_events = 0  # events submitted and not yet written or dropped
        self._room = threading.Condition()  # notified whenever queued events were taken off
        # the latest real storage problem, None again after a commit (shown by the window)
        self.problem: StorageError | None = None
        self._opened = False
        self._check_queued = False
        self._sessions = 0  # write sessions opened so far
        # (session, its generation) of the latest transaction: rows stored under one epoch are
        # what a later record of the same epoch names (see IngestService's fingerprint cache)
        self.epoch: tuple[int, int] = (0, 0)

    def submit(self, job: WriteJob) -> None:
        if self._stopping.is_set() and job.command is None:
            raise RuntimeError("the writer is stopped")
        with self._room:  # the writer thread takes events off under the same lock
            self.queued_events += len(job.items)
        self.queue.put(job)

    def wait_for_room(self, limit: int, cancel: threading.Event | None = None) -> None:
        """Block while more than ``limit`` events wait for this writer: a bulk ingest's
        backpressure, so that when the writer is the slower half (events without a time field
        insert at random places in the dedup index) parsed events do not pile up in memory.
        Returns at once when the writer stops or ``cancel`` is set."""
        with self._room:
            while (self.queued_events > limit and self.is_alive()
                   and not self._stopping.is_set()
                   and not (cancel is not None and cancel.is_set())):
                self._room.wait(0.1)

    def request_check(self) -> None:
        """Have the writer look at its file soon (deleted? replaced? read-only?) without
        waiting; at most one such check is queued at a time."""
        if self._check_queued or self._stopping.is_set():
            return
        self._check_queued = True
        try:
            self.queue.put_nowait(WriteJob([], command=_check_only))
        except queue.Full:  # the writer is busy and checks before each batch anyway
            self._check_queued = False

    def stop(self, timeout: float | None = 30) -> None:
        """Finish what is queued (without backoff waits), then close the connection."""
        self._stopping.set()
        self.queue.put(_STOP)
        self.join(timeout)

    def run(self) -> None:
        try:
            self._open()
        except StorageError as exc:
            self.open_error = exc
        except Exception as exc:  # never leave the service waiting on a dead thread
            self.open_error = StorageError(f"Opening {self.db_path} failed: {exc}",
                                           path=self.db_path)
        finally:
            self.ready.set()
        if self.open_error is not None:
            return
        try:
            while True:
                job = self.queue.get()
                if job is _STOP:
                    break
                jobs = [job]
                stop_after = self._coalesce(jobs)
                self._process(jobs)
                if stop_after:
                    break
        finally:
            s, self._session = self._session, None
            if s is not None:
                s.release()

    def _open(self) -> None:
        if self._session is not None:
            return
        # Only the first open creates the database: one that vanishes later is reported
        # missing, never silently replaced by an empty one.
        self._session = self.backend.write_session(
            synchronous=self.synchronous, busy_timeout_ms=self.busy_timeout_ms,
            create=not self._opened)
        self._sessions += 1
        self._opened = True

    def _check(self) -> None:
        """Before each write: is the database still there and writable? A session that let
        go of its database (deleted or replaced under it) is dropped."""
        s = self._session
        try:
            s.check()
        finally:
            if s.detached:
                self._session = None

    def _coalesce(self, jobs: list) -> bool:
        """Take more queued event jobs into the same transaction, up to batch_size events.

        During a bulk ingest (its jobs say ``more_coming``) a transaction of fewer than
        ``bulk_min`` events waits up to ``bulk_wait`` seconds for the next job. The writer is
        faster than the workers, so it would otherwise commit every few thousand events, and
        a transaction has costs of its own: every (client, currency) it touches is one
        aggregates row to rewrite, and every index page it dirties is written to the WAL again
        (events without a time, or with idempotency keys, land all over their indexes). The
        wait must outlast the workers' pace: on a 1M-line feed file (docs/benchmarks.md) a
        30 ms wait gave 252 transactions of 4,000 events on average and 1.9 GB written, 0.5 s
        gave 56 transactions and 1.4 GB, and `faultsim ingest` 3% less CPU and wall time.
        Larger transactions buy little more for much more memory. The last job of a file, and any interactive submit, says
        nothing more is coming: they never wait.
        """
        if jobs[0].command is not None:
            return False
        count = len(jobs[0].items)
        deadline = None
        while count < self.batch_size:
            try:
                nxt = self.queue.get_nowait()
            except queue.Empty:
                if count >= self.bulk_min or not jobs[-1].more_coming or \
                        self._stopping.is_set():
                    return False
                if deadline is None:
                    deadline = time.monotonic() + self.bulk_wait
                try:
                    nxt = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    return False
            if nxt is _STOP:
                return True
            if nxt.command is not None:
                self._process(jobs)
                jobs.clear()
                self._process([nxt])
                return False
            jobs.append(nxt)
            count += len(nxt.items)
        return False

    def _process(self, jobs: list[WriteJob]) -> None:
        if not jobs:
            return
        if jobs[0].command is not None:
            self._run_command(jobs[0])
            return
        jobs = [job for job in jobs if not self._dropped(job)]
        if not jobs:
            return
        items = [it for job in jobs for it in job.items]
        records = self._write_with_retries(items, new_tickets(len(items)))
        self.publish(records)
        self._taken(len(items))
        start = 0
        for job in jobs:
            part = records[start:start + len(job.items)]
            start += len(job.items)
            if job.on_done is not None:
                try:
                    job.on_done(part)
                except Exception:  # a subscriber's bug must not stop the writer
                    log.exception("outcome callback failed")
            job.result = part
            job.done.set()

    def _taken(self, n: int) -> None:
        with self._room:
            self.queued_events = max(0, self.queued_events - n)
            self._room.notify_all()

    def _dropped(self, job: WriteJob) -> bool:
        if job.cancel is None or not job.cancel.is_set():
            return False
        self._taken(len(job.items))
        if job.on_cancelled is not None:
            job.on_cancelled(len(job.items))
        job.done.set()
        return True

    def _run_check(self, job: WriteJob) -> None:
        self._check_queued = False
        try:
            self._open()
            self._check()
        except _FAILURES as exc:
            self.problem = self.backend.explain(exc)
        else:
            if self.problem is not None and self.problem.kind in _SEEN_OVER:
                self.problem = None  # fixed by the user
        finally:
            job.done.set()

    def _run_command(self, job: WriteJob) -> None:
        if job.command is _check_only:
            self._run_check(job)
            return
        attempt = 1
        try:
            while True:
                try:
                    self._open()
                    self._check()
                    s = self._session
                    s.begin()
                    try:
                        job.result = job.command(s)
                        s.commit()
                    except BaseException:
                        s.rollback()
                        raise
                    if attempt > 1 and self.problem is not None and \
                            self.problem.kind is StorageErrorKind.LOCKED:
                        self.problem = None  # the lock it waited out is gone
                    return
                except _FAILURES as exc:
                    error = self._failed(self.backend.explain(exc))
                    # a lock held beyond the busy timeout is waited out as event writes do
                    if error.kind is not StorageErrorKind.LOCKED or \
                            attempt >= self.policy.attempts or \
                            sleep_unless(self._stopping, self.policy.delay(attempt, self._rng)):
                        job.error = error
                        return
                    attempt += 1
        except Exception as exc:  # report, never kill the writer
            job.error = exc
        finally:
            job.done.set()

    def _write_with_retries(self, items: list[Prepared], tickets: Sequence[int]
                            ) -> list[OutcomeRecord]:
        # Events from the pending outbox keep the ticket they were first sent with, and count
        # their attempts on from there, so a drain recognizes their earlier commits.
        outboxed = ([i for i, oid in enumerate(map(_outbox_id, items)) if oid is not None]
                    if any(map(_outbox_id, items)) else [])
        prior: dict[int, int] = {}
        if outboxed:
            known = self.outbox.receipts(items[i][OUTBOX_ID] for i in outboxed)
            tickets = list(tickets)
            for i in outboxed:
                receipt, attempts = known.get(items[i][OUTBOX_ID], (None, 0))
                if receipt is not None:
                    tickets[i] = receipt_ticket(receipt)
                prior[i] = attempts
        attempt = 1
        unheard = False  # an attempt may have committed without our hearing of it
        while True:
            try:
                records = self._transact(items, attempt, _receipts(tickets, prior, attempt),
                                         outboxed)
                self.problem = None
                for i in outboxed:
                    records[i] = records[i]._replace(outbox_id=items[i][OUTBOX_ID])
                return records
            except _FAILURES as exc:
                error = exc if isinstance(exc, InjectedFault) else \
                    self._failed(self.backend.explain(exc))
                reason = str(error)
                lost = isinstance(error, InjectedFault) and error.point is FaultPoint.AFTER_COMMIT
                unheard = unheard or lost
                last = attempt >= self.policy.attempts or self._stopping.is_set()
                if last:
                    failed = self._to_outbox(items, attempt, reason, tickets, unheard)
                    self._keep_in_log(failed, error)
                    return failed
                now = utc_now()
                why = (f"acknowledgement lost ({reason}); retrying (attempt {attempt + 1})"
                       if lost else reason)
                retrying = [OutcomeRecord(now, Outcome.RETRYING, it.client, it.amount,
                                          it.currency, it.fingerprint, attempt, why,
                                          it.source, it.line, outbox_id=it.outbox_id,
                                          import_tag=it.import_tag)
                            for it in map(Prepared._make, items)]
                self._keep_in_log(retrying, error)
                self.publish(retrying)
                if sleep_unless(self._stopping, self.policy.delay(attempt, self._rng)):
                    failed = self._to_outbox(items, attempt, reason, tickets, unheard)
                    self._keep_in_log(failed, error)
                    return failed
                attempt += 1

    def _failed(self, error: StorageError) -> StorageError:
        """Note a real storage failure; a corrupt file is closed and never written again."""
        if self.backend.note_failure(error) and self._session is not None:
            self._session.close()
            self._session = None
        self.problem = error
        return error

    def _transact(self, items: list[Prepared], attempt: int, receipts: Sequence[int],
                  outboxed: list[int]) -> list[OutcomeRecord]:
        self._open()
        self._check()
        faults = self.faults
        s = self._session
        faults.check(FaultPoint.BEFORE_WRITE)
        delay = faults.delay()
        if delay:
            sleep_unless(self._stopping, delay)
        s.begin()
        self.epoch = (self._sessions, getattr(s, "generation", 0))
        try:
            records = s.store_events(items, attempt, utc_now(), receipts)
            faults.check(FaultPoint.MID_TRANSACTION)
            s.commit()
        except BaseException:
            s.rollback()
            raise
        # the commit is durable; from here only the caller's acknowledgement can be lost
        faults.check(FaultPoint.AFTER_COMMIT)
        # Heard back: what waited in the outbox is settled. Unheard, it stays there, and the
        # next drain finds it stored under its own receipt.
        done = [items[i][OUTBOX_ID] for i in outboxed if records[i].outcome in _FINAL]
        if done:
            self.outbox.remove(done)
        return records

    def _keep_in_log(self, records: list[OutcomeRecord], error: BaseException) -> None:
        # Every retry and failure goes in the log table, so `faultsim log` shows them as the
        # window does. Best effort: when the database itself is what fails, the pending outbox
        # keeps the reason; a locked file is not waited on a second time.
        if getattr(error, "kind", None) in _FILE_KINDS | {"locked"} or self._session is None:
            return
        try:
            self._session.log_outcomes(records)
        except _FAILURES:
            pass

    def _to_outbox(self, items: list[Prepared], attempts: int, reason: str,
                   tickets: Sequence[int], unheard: bool) -> list[OutcomeRecord]:
        now = utc_now()
        items = [Prepared._make(it) for it in items]  # worker processes send plain tuples
        fresh = [i for i, it in enumerate(items) if it.outbox_id is None]
        again = [it.outbox_id for it in items if it.outbox_id is not None]
        ids: list[int | None] = [it.outbox_id for it in items]
        if unheard:  # some attempt committed, perhaps, but no answer came back
            what = (f"no acknowledgement after {attempts} attempt(s) ({reason}): it may be "
                    "stored already")
            kept = "kept in the pending outbox until a retry confirms it"
        else:
            what = f"storage failed after {attempts} attempt(s): {reason}"
            kept = "kept in the pending outbox"
        try:
            new_ids = self.outbox.add(
                [(items[i].raw, items[i].source, items[i].line, items[i].column, attempts,
                  reason, tickets[i], items[i].import_tag) for i in fresh], now)
            for i, oid in zip(fresh, new_ids):
                ids[i] = oid
            self.outbox.note_failure(again, attempts, reason,
                                     {it.outbox_id: tickets[i] for i, it in enumerate(items)
                                      if it.outbox_id is not None})
            why = f"{what}; {kept}"
        except (sqlite3.Error, OSError) as exc:
            why = (f"{what}; the pending outbox {self.outbox.path} could not be written either "
                   f"({exc})")
        return [OutcomeRecord(now, Outcome.FAILED, it.client, it.amount, it.currency,
                              it.fingerprint, attempts, why, it.source, it.line,
                              outbox_id=oid, import_tag=it.import_tag)
                for it, oid in zip(items, ids)]


_outbox_id = itemgetter(OUTBOX_ID)


def _receipts(tickets: Sequence[int], prior: dict[int, int], attempt: int) -> Sequence[int]:
    """The receipts attempt number ``attempt`` writes: each ticket plus the event's attempt
    number (counted on from the outbox's for a pending event), at most RECEIPT_STEP - 1."""
    top = RECEIPT_STEP - 1
    if not prior and isinstance(tickets, range):  # a plain batch: no list of a million ints
        a = min(attempt, top)
        return range(tickets.start + a, tickets.stop + a, tickets.step)
    out = [t + min(attempt, top) for t in tickets]
    for i, n in prior.items():
        out[i] = tickets[i] + min(n + attempt, top)
    return out
