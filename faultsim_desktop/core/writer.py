"""The single writer thread: owns the write connection, batches, transactions, outcomes."""
from __future__ import annotations

import logging
import queue
import random
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .faults import FaultPoint, FaultSwitch, InjectedFault, sleep_unless
from .model import OUTBOX_ID, Outcome, OutcomeRecord, Prepared
from .retry import Outbox, RetryPolicy
from .store import StorageError, WriteSession, connect, explain

log = logging.getLogger(__name__)

_FINAL = (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED)


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class WriteJob:
    items: list[Prepared]
    on_done: Callable[[list[OutcomeRecord]], None] | None = None
    # a command instead of events: a callable run with the WriteSession inside a transaction
    command: Callable[[WriteSession], object] | None = None
    # set when the submitter cancelled: a job still queued then is dropped, never half-written
    cancel: threading.Event | None = None
    on_cancelled: Callable[[int], None] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


_STOP = object()


class Writer(threading.Thread):
    """Drains a bounded queue of jobs; coalesces them into transactions of ``batch_size``.

    Each transaction stores events, quarantine rows, aggregate updates and log rows together;
    a failure anywhere rolls all of it back and the batch is retried per ``policy``. Batches
    whose retries run out go to the pending outbox with outcome FAILED.
    """

    def __init__(self, db_path: Path, outbox: Outbox, faults: FaultSwitch, policy: RetryPolicy,
                 publish: Callable[[list[OutcomeRecord]], None], *, batch_size: int = 50000,
                 queue_jobs: int = 24, synchronous: str = "FULL", seed: int | None = None):
        super().__init__(name="faultsim-writer", daemon=True)
        self.db_path = Path(db_path)
        self.outbox = outbox
        self.faults = faults
        self.policy = policy
        self.publish = publish
        self.batch_size = batch_size
        self.synchronous = synchronous
        self.queue: queue.Queue = queue.Queue(maxsize=queue_jobs)
        self._stopping = threading.Event()
        self._rng = random.Random(seed)
        self._session: WriteSession | None = None
        self.ready = threading.Event()
        self.open_error: StorageError | None = None
        self.queued_events = 0  # events waiting in the queue (approximate, for the status bar)

    # -- called from other threads -------------------------------------------------------
    def submit(self, job: WriteJob) -> None:
        if self._stopping.is_set() and job.command is None:
            raise RuntimeError("the writer is stopped")
        self.queued_events += len(job.items)
        self.queue.put(job)

    def stop(self, timeout: float | None = 30) -> None:
        """Finish what is queued (without backoff waits), then close the connection."""
        self._stopping.set()
        self.queue.put(_STOP)
        self.join(timeout)

    # -- the thread ----------------------------------------------------------------------
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
            if self._session is not None:
                self._session.close()
                self._session = None

    def _open(self) -> None:
        if self._session is None:
            conn = connect(self.db_path, synchronous=self.synchronous)
            self._session = WriteSession(conn)

    def _coalesce(self, jobs: list) -> bool:
        """Take more queued event jobs into the same transaction, up to batch_size events."""
        if jobs[0].command is not None:
            return False
        count = len(jobs[0].items)
        while count < self.batch_size:
            try:
                nxt = self.queue.get_nowait()
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
        records = self._write_with_retries(items)
        self.publish(records)
        self.queued_events = max(0, self.queued_events - len(items))
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

    def _dropped(self, job: WriteJob) -> bool:
        if job.cancel is None or not job.cancel.is_set():
            return False
        self.queued_events = max(0, self.queued_events - len(job.items))
        if job.on_cancelled is not None:
            job.on_cancelled(len(job.items))
        job.done.set()
        return True

    def _run_command(self, job: WriteJob) -> None:
        try:
            self._open()
            s = self._session
            s.begin()
            try:
                job.result = job.command(s)
                s.commit()
            except BaseException:
                s.rollback()
                raise
        except (sqlite3.Error, OSError, StorageError) as exc:
            job.error = explain(exc, self.db_path)
        except Exception as exc:  # report, never kill the writer
            job.error = exc
        finally:
            job.done.set()

    def _write_with_retries(self, items: list[Prepared]) -> list[OutcomeRecord]:
        attempt = 1
        while True:
            try:
                return self._transact(items, attempt)
            except (sqlite3.Error, OSError, StorageError) as exc:
                error = exc if isinstance(exc, InjectedFault) else explain(exc, self.db_path)
                reason = str(error)
                last = attempt >= self.policy.attempts or self._stopping.is_set()
                if last:
                    failed = self._to_outbox(items, attempt, reason)
                    self._keep_in_log(failed, error)
                    return failed
                now = utc_now()
                retrying = [OutcomeRecord(now, Outcome.RETRYING, it.client, it.amount,
                                          it.currency, it.fingerprint, attempt, reason,
                                          it.source, it.line)
                            for it in map(Prepared._make, items)]
                self._keep_in_log(retrying, error)
                self.publish(retrying)
                if sleep_unless(self._stopping, self.policy.delay(attempt, self._rng)):
                    failed = self._to_outbox(items, attempt, reason)
                    self._keep_in_log(failed, error)
                    return failed
                attempt += 1

    def _transact(self, items: list[Prepared], attempt: int) -> list[OutcomeRecord]:
        self._open()
        faults = self.faults
        s = self._session
        faults.check(FaultPoint.BEFORE_WRITE)
        delay = faults.delay()
        if delay:
            sleep_unless(self._stopping, delay)
        s.begin()
        try:
            records = s.store_events(items, attempt, utc_now())
            faults.check(FaultPoint.MID_TRANSACTION)
            s.commit()
        except BaseException:
            s.rollback()
            raise
        # the commit is durable; from here only the caller's acknowledgement can be lost
        done = [it[OUTBOX_ID] for it, r in zip(items, records)
                if it[OUTBOX_ID] is not None and r.outcome in _FINAL]
        if done:
            self.outbox.remove(done)
        faults.check(FaultPoint.AFTER_COMMIT)
        return records

    def _keep_in_log(self, records: list[OutcomeRecord], error: BaseException) -> None:
        # Every retry and failure goes in the log table, so `faultsim log` shows them as the
        # window does. Best effort: when the database itself is what fails, the pending outbox
        # keeps the reason; a locked file is not waited on a second time.
        if getattr(error, "kind", None) == "locked" or self._session is None:
            return
        try:
            self._session.log_outcomes(records)
        except (sqlite3.Error, OSError, StorageError):
            pass

    def _to_outbox(self, items: list[Prepared], attempts: int, reason: str
                   ) -> list[OutcomeRecord]:
        now = utc_now()
        items = [Prepared._make(it) for it in items]  # worker processes send plain tuples
        fresh = [(it.raw, it.source, it.line, it.column, attempts, reason)
                 for it in items if it.outbox_id is None]
        again = [it.outbox_id for it in items if it.outbox_id is not None]
        try:
            self.outbox.add(fresh, now)
            self.outbox.note_failure(again, attempts, reason)
            why = f"storage failed after {attempts} attempt(s): {reason}; kept in the pending outbox"
        except (sqlite3.Error, OSError) as exc:
            why = (f"storage failed after {attempts} attempt(s): {reason}; the pending outbox "
                   f"{self.outbox.path} could not be written either ({exc})")
        return [OutcomeRecord(now, Outcome.FAILED, it.client, it.amount, it.currency,
                              it.fingerprint, attempts, why, it.source, it.line)
                for it in items]

