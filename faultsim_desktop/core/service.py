"""IngestService: the one entry point that the command line and the window both use."""
from __future__ import annotations

import csv
import gc
import itertools
import json
import multiprocessing
import os
import re
import sqlite3
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO

from .faults import FaultPoint, FaultSwitch
from .idempotency import Answer, RequestKeys
from .model import (Candidate, ClientTotal, Outcome, OutcomeRecord, Prepared, QuarantineEntry,
                    RejectCode, Rejection, StoredEvent)
from .normalize import client_display
from .paging import PageQuery, ViewCount
from .parsing import Chunk, decode_value, iter_chunks, iter_file, parse_chunk, split_text
from .pipeline import prepare, prepare_one, process_chunk
from .retry import Outbox, PendingEvent, RetryPolicy
from .schemas import Mapping, MappingError, Registry, retirement
from .dburl import label_of
from .errors import StorageError
from .storage import WriteSessionAPI as WriteSession, open_backend
from .writer import Writer, WriteJob, utc_now

Subscriber = Callable[[list[OutcomeRecord]], None]
# Files larger than this are parsed by worker processes; smaller ones in the calling thread.
POOL_THRESHOLD_BYTES = 4 << 20
# A worker's answer is unpickled in one go while holding the GIL: small chunks keep that short
# (about 2 ms), so a window in the same process never waits long for its turn.
POOL_CHUNK_BYTES = 256 << 10
# A file ingest hands the writer more only while fewer events than this wait for it. Measured on
# the 1M corpus with its time fields removed (the writer then the slower half): peak RSS 187 ->
# 141 MB (272 -> 226 MB with the workers) at the same speed; no change where the writer keeps up.
BULK_BACKLOG_EVENTS = 60_000
# The clients' mappings are read again at most this often, so a change made by another process
# (faultsim schema set while a window or a server runs) applies within about a second.
REGISTRY_TTL_S = 1.0
PREVIEW_LIMIT = 500  # events a schema preview normalizes
FINGERPRINT_CACHE = 10_000  # stored rows the fingerprint cache keeps by default (0: no cache)


def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("faultsim-desktop", appauthor=False)) / "faultsim.db"


def _count_outcomes(records: Iterable[OutcomeRecord]) -> Counter:
    return Counter(r[1] for r in records)  # r[1] is the outcome; Counter counts in C


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
        self.add_counts(_count_outcomes(records))

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


class FingerprintCache:
    """The stored rows of recent events by fingerprint (LRU), so that answering a duplicate
    needs no read of the database. It never decides an outcome: every event still goes through
    the writer's transaction (UNIQUE index, log row, crash switch), and a row is used only for
    the event id the writer named, under the same writer epoch it was stored with (a reset,
    another connection's commit or a reopened file starts a new epoch)."""

    def __init__(self, size: int):
        self.size = size
        self.hits = self.misses = 0
        self._rows: OrderedDict[bytes, tuple[int, tuple, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, fingerprint: bytes, event_id: int, epoch: object) -> tuple | None:
        with self._lock:
            entry = self._rows.get(fingerprint)
            if entry is None or entry[0] != event_id or entry[2] != epoch:
                self.misses += 1
                return None
            self._rows.move_to_end(fingerprint)
            self.hits += 1
            return entry[1]

    def put(self, fingerprint: bytes, event_id: int, row: tuple, epoch: object) -> None:
        with self._lock:
            self._rows[fingerprint] = (event_id, row, epoch)
            self._rows.move_to_end(fingerprint)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


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
        counts = _count_outcomes(records)  # outside the lock: readers never wait on a loop
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


_OUTBOX_ID = OutcomeRecord._fields.index("outbox_id")
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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # outbox ids of the events counted in ``failed`` (a FAILED outcome with no id stays failed)
    _waiting: set = field(default_factory=set, repr=False)

    def add(self, records: list[OutcomeRecord]) -> None:
        counts = _count_outcomes(records)  # outside the lock: the window reads these often
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
            oid = r[_OUTBOX_ID] if len(r) > _OUTBOX_ID else None
            if oid is None:
                continue
            if r[1] is Outcome.FAILED:
                if oid in waiting:
                    counts[Outcome.FAILED] -= 1
                else:
                    waiting.add(oid)
            elif r[1] in _SETTLED and oid in waiting:
                waiting.discard(oid)
                self.failed -= 1
        return counts

    def forget_waiting(self) -> None:
        """The outbox was emptied (a reset): what waited there is gone, not failed."""
        with self._lock:
            self.failed -= len(self._waiting)
            self._waiting.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"accepted": self.accepted, "duplicates": self.duplicates,
                    "rejected": self.rejected, "failed": self.failed, "retries": self.retries}


class IngestService:
    """Parse, normalize, deduplicate and store events; publish every outcome.

    One writer thread owns the database; CPU-heavy parsing of large files runs in worker
    processes. Every public method is safe to call from any thread.
    """

    def __init__(self, db_path: str | os.PathLike | None = None, *,
                 faults: FaultSwitch | None = None, retry: RetryPolicy | None = None,
                 batch_size: int = 50000, workers: int | None = None,
                 synchronous: str = "FULL", seed: int | None = None,
                 busy_timeout_ms: int = 10_000, fingerprint_cache: int = FINGERPRINT_CACHE):
        # SQLite (a path) or PostgreSQL (a postgresql:// URL); see core/storage/
        self.backend = open_backend(db_path if db_path is not None else default_db_path())
        self.db_path = self.backend.target  # the Path, or the URL as given
        self.db_label = label_of(self.db_path)  # for messages and titles: no password
        self.faults = faults if faults is not None else FaultSwitch(seed)
        self.outbox = Outbox(self.backend.outbox_path)
        self.counters = SessionCounters()
        self.batch_size = batch_size
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._subscribers: list[Subscriber] = []
        self._sub_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False
        self._registry = Registry()
        self._registry_at = float("-inf")  # time.monotonic() of the last read
        self._registry_lock = threading.Lock()
        self._writer = Writer(self.backend, self.outbox, self.faults, retry or RetryPolicy(),
                              self._publish, batch_size=batch_size, synchronous=synchronous,
                              seed=seed, busy_timeout_ms=busy_timeout_ms)
        self._busy_timeout_ms = busy_timeout_ms
        # SQLite only: its writer sees every reset and foreign commit (PRAGMA data_version);
        # a PostgreSQL session does not, so a row could outlive a dropped and recreated database
        self.fingerprint_cache = FingerprintCache(fingerprint_cache) \
            if fingerprint_cache > 0 and self.backend.is_file else None
        self._writer.start()
        self._writer.ready.wait()
        if self._writer.open_error is not None:
            self._writer.stop()
            self.backend.close()
            raise self._writer.open_error
        self.requests = RequestKeys(self._reader, self._command)
        self.registry()

    # -- settings --------------------------------------------------------------------------
    @property
    def retry_policy(self) -> RetryPolicy:
        return self._writer.policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        self._writer.policy = policy

    @property
    def queue_depth(self) -> int:
        """Events waiting for the writer."""
        return self._writer.queued_events

    @property
    def problem(self) -> StorageError | None:
        """The latest real storage problem (locked, read-only, full, missing, replaced,
        corrupt...), or None once a write succeeds again; its message names the file and
        says what to do."""
        return self._writer.problem

    def check_storage(self) -> None:
        """Have the writer look at the database file soon (deleted, replaced, read-only?) and
        update ``problem``; returns at once. The window calls it every second or so."""
        self._writer.request_check()

    @property
    def queue_full(self) -> bool:
        """True while the writer's bounded queue takes no more jobs (a submit would wait)."""
        return self._writer.queue.full()

    # -- outcomes --------------------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(records)`` (on the writer thread) for every batch of outcomes."""
        with self._sub_lock:
            self._subscribers = self._subscribers + [fn]

        def unsubscribe() -> None:
            with self._sub_lock:
                self._subscribers = [s for s in self._subscribers if s is not fn]
        return unsubscribe

    def _publish(self, records: list[OutcomeRecord]) -> None:
        self.counters.add(records)
        for fn in self._subscribers:
            try:
                fn(records)
            except Exception:  # one broken subscriber must not stop ingestion
                import logging
                logging.getLogger(__name__).exception("subscriber failed")

    # -- submitting ------------------------------------------------------------------------
    def _enqueue(self, items: list[Prepared], ticket: Ticket,
                 cancel: threading.Event | None = None, more_coming: bool = False) -> None:
        ticket.expect(len(items))
        on_done = ticket.add
        if ticket.records is not None:
            writer = self._writer

            def add_with_epoch(part: list[OutcomeRecord]) -> None:  # on the writer thread
                ticket.note_epoch(writer.epoch)
                ticket.add(part)
            on_done = add_with_epoch
        for i in range(0, len(items), self.batch_size):
            self._writer.submit(WriteJob(items[i:i + self.batch_size], on_done=on_done,
                                         cancel=cancel, on_cancelled=ticket.discard,
                                         more_coming=more_coming))

    def submit_text(self, text: str | bytes, source: str = "pasted", *,
                    keep_records: bool = False) -> Ticket:
        """Split, normalize and queue pasted text; returns at once with a Ticket."""
        ticket = Ticket()
        if keep_records:
            ticket.keep_records()
        self._enqueue(prepare(split_text(text, source), utc_now(), self.registry()), ticket)
        ticket.seal()
        return ticket

    def submit_prepared(self, items: list[Prepared], *, keep_records: bool = False) -> Ticket:
        """Queue events that went through the CPU stage (``pipeline.prepare`` with
        ``registry()``) already."""
        ticket = Ticket()
        if keep_records:
            ticket.keep_records()
            ticket.items = items
        self._enqueue(items, ticket)
        ticket.seal()
        return ticket

    def submit_candidates(self, candidates: list[Candidate], *, keep_records: bool = False
                          ) -> Ticket:
        """Normalize and queue events already split out of their text (``split_text``), as
        ``submit_text`` does: the HTTP server looks at them first."""
        return self.submit_prepared(prepare(candidates, utc_now(), self.registry()),
                                    keep_records=keep_records)

    def once(self, key: str, body: bytes, run: Callable[[], tuple[int, bytes]],
             final: Callable[[int], bool]) -> Answer:
        """Run a request named by an idempotency key at most once: ``run()`` the first time
        (its answer kept when ``final(status)``), the kept answer for a retry with the same
        body. See ``core/idempotency.py``."""
        return self.requests.once(key, body, run, final)

    def stored_rows(self, ticket: Ticket) -> dict[int, StoredEvent]:
        """The stored row (as ``events_by_id``) of every event of a finished ticket (kept
        records) that was accepted or found stored. An accepted event's row is what its own
        transaction wrote (the store inserts these values as they are, and received_at is the
        outcome's time); a duplicate's comes from the fingerprint cache when it holds that
        very row (same event id, same writer epoch), else it is read back."""
        epoch = ticket.epoch
        cache = self.fingerprint_cache if epoch is not None else None
        rows: dict[int, StoredEvent] = {}
        wanted = {}
        for r, p in zip(ticket.records, ticket.items):
            if r.outcome is Outcome.ACCEPTED:
                rows[r.event_id] = row = StoredEvent(
                    r.event_id, p.fingerprint, p.client, p.currency, p.amount, p.event_time,
                    r.at, p.idempotency_key, json.dumps(p.warnings, ensure_ascii=False)
                    if p.warnings else None, p.source, p.line)
                if cache is not None:
                    cache.put(p.fingerprint, r.event_id, row, epoch)
            elif r.outcome is Outcome.DUPLICATE:
                row = cache.get(r.fingerprint, r.event_id, epoch) if cache is not None else None
                if row is not None:
                    rows[r.event_id] = row
                else:
                    wanted[r.event_id] = r.fingerprint
        wanted = {i: fp for i, fp in wanted.items() if i not in rows}
        if wanted:
            found = self.events_by_id(wanted)
            missing = [i for i in wanted if i not in found]
            if missing:  # deleted meanwhile (a reset of the database)
                raise StorageError(f"stored event #{missing[0]} could not be read back.")
            rows.update(found)
            if cache is not None:
                for i, fp in wanted.items():
                    cache.put(fp, i, found[i], epoch)
        return rows

    def ingest_file(self, path: str | os.PathLike, *,
                    progress: Callable[[int, int | None], None] | None = None,
                    cancel: threading.Event | None = None) -> Summary:
        """Stream a file (or "-" for standard input) through the engine; blocks until done."""
        if str(path) == "-":
            return self.ingest_stream(sys.stdin.buffer, "<stdin>", progress=progress,
                                      cancel=cancel)
        p = Path(path)
        try:
            size = p.stat().st_size
            f = open(p, "rb")
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {p}: {exc.strerror or exc}") from exc
        with f:
            return self.ingest_stream(f, str(p), size=size, progress=progress, cancel=cancel)

    def ingest_stream(self, stream: BinaryIO, source: str, *, size: int | None = None,
                      progress: Callable[[int, int | None], None] | None = None,
                      cancel: threading.Event | None = None) -> Summary:
        ticket = Ticket()
        use_pool = self.workers > 0 and (size is None or size > POOL_THRESHOLD_BYTES)
        cancelled = False
        try:
            if use_pool:
                cancelled = self._ingest_pooled(stream, source, size, ticket, progress, cancel)
            else:
                for chunk in _noting_refusal(iter_chunks(stream, source), ticket):
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        break
                    self._enqueue(prepare(parse_chunk(chunk), utc_now(), self.registry()),
                                  ticket, cancel)
                    if progress is not None:
                        progress(_tell(stream), size)
        finally:
            ticket.seal(cancelled)
        summary = ticket.wait()
        summary.pending = self.outbox.count()
        return summary

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                                 mp_context=get_context("spawn"),
                                                 initializer=_lower_priority)
            return self._pool

    def _ingest_pooled(self, stream, source, size, ticket, progress, cancel) -> bool:
        pool = self._get_pool()
        inflight: deque = deque()
        limit = self.workers * 4 + 2
        try:
            for chunk in _noting_refusal(iter_chunks(stream, source, chunk_bytes=POOL_CHUNK_BYTES),
                                         ticket):
                if cancel is not None and cancel.is_set():
                    return True
                inflight.append(pool.submit(process_chunk, chunk, utc_now(),
                                            self.registry() or None))
                while len(inflight) >= limit:  # the file goes on: more chunks will follow
                    items = inflight.popleft().result()
                    self._writer.wait_for_room(BULK_BACKLOG_EVENTS, cancel)
                    self._enqueue(items, ticket, cancel, more_coming=True)
                if progress is not None:
                    progress(_tell(stream), size)
            while inflight:
                if cancel is not None and cancel.is_set():
                    return True
                self._enqueue(inflight.popleft().result(), ticket, cancel,
                              more_coming=bool(inflight))
            return False
        finally:
            for fut in inflight:
                fut.cancel()

    # -- the pending outbox ----------------------------------------------------------------
    def pending(self, limit: int | None = 1000) -> list[PendingEvent]:
        return self.outbox.list(limit)

    def pending_count(self, text: str = "") -> ViewCount:
        """How many events wait in the outbox, and how many of them match ``text``."""
        return self.outbox.view_count(text)

    def pending_page(self, query: PageQuery = PageQuery()) -> list[PendingEvent]:
        """One page of the outbox, sorted and filtered as ``query`` says (core/paging.py)."""
        return self.outbox.page(query)

    def retry_pending(self) -> Summary:
        """Send every event of the outbox again; final outcomes remove them from it."""
        if not self._drain_lock.acquire(blocking=False):
            return Summary(pending=self.outbox.count())  # a drain is already under way
        try:
            ticket = Ticket()
            now = utc_now()
            registry = self.registry()  # a pending event is normalized when it is stored
            for page in self.outbox.iter_all():
                self._enqueue([prepare_one(_candidate_from_pending(p), now, p.id, registry)
                               for p in page], ticket)
            ticket.seal()
            summary = ticket.wait()
        finally:
            self._drain_lock.release()
        summary.pending = self.outbox.count()
        return summary

    # -- per-client schemas (core/schemas.py) ----------------------------------------------
    def registry(self) -> Registry:
        """The clients' active mappings, as ingestion uses them. Read again at most once per
        REGISTRY_TTL_S (other processes may change them); a failed read keeps the last one."""
        if time.monotonic() - self._registry_at >= REGISTRY_TTL_S:
            self._load_registry(force=False)
        return self._registry

    def _load_registry(self, force: bool) -> None:
        # one thread reads; the others go on with the snapshot they have (unless forced)
        if not self._registry_lock.acquire(blocking=force):
            return
        try:
            if not force and time.monotonic() - self._registry_at < REGISTRY_TTL_S:
                return
            try:
                with self._reader() as r:
                    rows = r.mappings()
            except (StorageError, sqlite3.Error):
                pass  # the storage problem shows elsewhere; ingestion goes on as it was
            else:
                self._registry = Registry(_mappings_from(rows))
            self._registry_at = time.monotonic()
        finally:
            self._registry_lock.release()

    def save_mapping(self, mapping: Mapping) -> Mapping:
        """Store ``mapping`` (from ``schemas.new_mapping``) as the newest version of its
        client's mapping; events submitted from now on use it, stored ones keep theirs."""
        now = utc_now()
        version = self._command(lambda s: s.save_mapping(mapping.client_key, mapping.to_json(),
                                                         mapping.note, now))
        self._load_registry(force=True)
        return replace(mapping, version=version, created_at=now)

    def mappings(self) -> list[Mapping]:
        """The active mapping of every client that has one, by client name."""
        with self._reader() as r:
            rows = r.mappings()
        return sorted((m for m in _mappings_from(rows) if not m.retired),
                      key=lambda m: (m.client_key, m.client))

    def retire_mapping(self, client: str, note: str = "") -> Mapping:
        """Hand ``client`` back to the heuristics: a new version that maps nothing. Stored
        events keep the version that normalized them; the history stays."""
        active = self.registry().get(client) if client_display(client) else None
        if active is None:
            self._load_registry(force=True)
            active = self._registry.get(client) if client_display(client) else None
        if active is None:
            raise MappingError(f"client {client!r} has no active mapping")
        return self.save_mapping(retirement(active.client, note))

    def mapping_history(self, client: str) -> list[Mapping]:
        """Every version of a client's mapping, newest first."""
        with self._reader() as r:
            rows = r.mapping_history(_client_key(client))
        return _mappings_from(rows)

    def mapping_usage(self, client: str) -> dict[int | None, int]:
        """Stored events of a client per mapping version that normalized them (None: the
        heuristics)."""
        with self._reader() as r:
            return r.mapping_usage(_client_key(client))

    def recent_raw(self, client: str, limit: int = 20) -> list[str | bytes]:
        """The raw text of a client's newest stored events (samples for a schema preview)."""
        with self._reader() as r:
            return r.recent_raw(_client_key(client), limit)

    def preview(self, text: str | bytes, mapping: Mapping | None = None,
                limit: int = PREVIEW_LIMIT) -> list[Prepared]:
        """How the events of ``text`` would be normalized now (by ``mapping`` for its client
        when given: a proposed version, numbered as the next one), through the same function as
        ingestion; nothing is stored."""
        return self._preview(split_text(text, "preview")[:limit], mapping)

    def preview_file(self, path: str | os.PathLike, mapping: Mapping | None = None,
                     limit: int = PREVIEW_LIMIT) -> list[Prepared]:
        """``preview`` of the first ``limit`` events of a file (read no further)."""
        with open(path, "rb") as f:
            return self._preview(list(itertools.islice(iter_file(f, str(path)), limit)), mapping)

    def _preview(self, candidates: list[Candidate], mapping: Mapping | None) -> list[Prepared]:
        registry = self.registry()
        if mapping is not None:
            if mapping.version is None:  # after the newest stored version, a retired one too
                newest = max((m.version or 0 for m in self.mapping_history(mapping.client)),
                             default=0)
                mapping = replace(mapping, version=newest + 1)
            registry = registry.with_mapping(mapping)
        now = utc_now()
        return [prepare_one(c, now, None, registry) for c in candidates]

    # -- quarantine ------------------------------------------------------------------------
    def quarantine(self, status: str | None = "open", limit: int = 1000) -> list[QuarantineEntry]:
        with self._reader() as r:
            return r.quarantine(status, limit)

    def iter_quarantine(self, status: str | None = "open", page: int = 1000
                        ) -> Iterator[QuarantineEntry]:
        """Every entry with ``status`` (None: any), oldest first, read a page at a time."""
        query = PageQuery(descending=False, limit=page)
        while True:
            entries = self.quarantine_page(status, query)
            yield from entries
            if len(entries) < page:
                return
            query = replace(query, after=(entries[-1].id,))

    def quarantine_count(self, status: str | None = "open", text: str = "") -> ViewCount:
        """How many entries have ``status`` (None: any), and how many of them match ``text``."""
        with self._reader() as r:
            return r.quarantine_count(status, text)

    def quarantine_page(self, status: str | None = "open", query: PageQuery = PageQuery()
                        ) -> list[QuarantineEntry]:
        """One page of the entries with ``status`` (None: any), sorted and filtered as
        ``query`` says (core/paging.py)."""
        with self._reader() as r:
            return r.quarantine_page(status, query)

    def quarantine_entry(self, qid: int) -> QuarantineEntry | None:
        with self._reader() as r:
            return r.quarantine_entry(qid)

    def resubmit_quarantined(self, qid: int, text: str | bytes | None = None) -> Summary:
        """Submit a quarantined input again (as fixed by the user); resolves it when every
        event it holds is stored (accepted or duplicate)."""
        entry = self.quarantine_entry(qid)
        if entry is None:
            raise KeyError(f"no quarantine entry #{qid}")
        body = entry.raw if text is None else text
        ticket = self.submit_text(body, source=f"quarantine #{qid}")
        summary = ticket.wait()
        if summary.received and summary.accepted + summary.duplicates == summary.received:
            self._command(lambda s: s.set_quarantine_status([qid], "resolved"))
        summary.pending = self.outbox.count()
        return summary

    # -- reading ---------------------------------------------------------------------------
    def _reader(self):
        # Never open the path while the writer still has another file open under that name:
        # SQLite would pair the new file with our WAL and read (and checkpoint) our pages.
        kind = self.backend.moved_away()
        if kind:
            self._writer.request_check()  # the writer saves it and lets go of it
            raise StorageError(
                f"The database {self.db_path} was "
                f"{'deleted or moved away' if kind == 'missing' else 'replaced'} while "
                "open; nothing more is written to it. Put the database back, or open or "
                "create another one; events not stored wait in the pending outbox.",
                path=self.db_path, kind=kind)
        return closing(self.backend.reader(self._busy_timeout_ms))

    def stats(self) -> list[ClientTotal]:
        with self._reader() as r:
            return r.stats()

    def stats_from_events(self) -> list[ClientTotal]:
        with self._reader() as r:
            return r.group_by_events()

    def recent_log(self, limit: int = 100) -> list[tuple]:
        with self._reader() as r:
            return r.recent_log(limit)

    def event(self, event_id: int) -> dict | None:
        with self._reader() as r:
            return r.event(event_id)

    def events_by_id(self, ids: Iterable[int]) -> dict[int, StoredEvent]:
        with self._reader() as r:
            return r.events_by_id(ids)

    def events_page(self, client_key: str | None = None, since: str | None = None,
                    after: int = 0, limit: int = 100) -> list[StoredEvent]:
        with self._reader() as r:
            return r.events_page(client_key, since, after, limit)

    def counts(self) -> dict[str, int]:
        with self._reader() as r:
            counts = r.counts()
        counts["pending"] = self.outbox.count()
        return counts

    def integrity_check(self) -> str:
        with self._reader() as r:
            return r.integrity_check()

    def export_events(self, out: TextIO, fmt: str = "csv") -> int:
        """Write every stored event as CSV (spreadsheet-safe) or NDJSON; returns the count."""
        n = 0
        with self._reader() as r:
            rows = r.iter_events()
            if fmt == "ndjson":
                for row in rows:
                    row["fingerprint"] = row["fingerprint"].hex()
                    row["warnings"] = json.loads(row["warnings"]) if row["warnings"] else []
                    row["currency"] = row["currency"] or None
                    if isinstance(row["raw"], bytes):
                        row["raw"] = row["raw"].decode("utf-8", "replace")
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
            elif fmt == "csv":
                w = csv.writer(out)
                header = ["id", "client", "currency", "amount", "event_time", "received_at",
                          "idempotency_key", "warnings", "source", "line", "mapping_version",
                          "fingerprint", "raw"]
                w.writerow(header)
                for row in rows:
                    row["fingerprint"] = row["fingerprint"].hex()
                    w.writerow([safe_cell(row[h]) for h in header])
                    n += 1
            else:
                raise ValueError(f"unknown export format {fmt!r}; use csv or ndjson")
        return n

    def export_stats_csv(self, out: TextIO) -> int:
        w = csv.writer(out)
        w.writerow(["client", "currency", "count", "total", "first_seen", "last_seen"])
        rows = self.stats()
        for r in rows:
            w.writerow([safe_cell(r.client), r.currency or "", r.count, str(r.total),
                        r.first_seen, r.last_seen])
        return len(rows)

    # -- maintenance -----------------------------------------------------------------------
    def _command(self, fn: Callable[[WriteSession], object], timeout: float | None = 60):
        job = WriteJob([], command=fn)
        self._writer.submit(job)
        if not job.done.wait(timeout):
            raise TimeoutError("the database did not answer in time")
        if job.error is not None:
            raise job.error
        return job.result

    def reset(self) -> None:
        """Delete every event, total, log row, quarantine entry and pending event."""
        self._command(lambda s: s.reset())
        if self.fingerprint_cache is not None:  # its entries' epoch is over anyway: free them
            self.fingerprint_cache.clear()
        self.outbox.remove(p.id for page in self.outbox.iter_all() for p in page)
        self.counters.forget_waiting()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        self._writer.stop()
        self.backend.close()

    def __enter__(self) -> "IngestService":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tune_gc_for_bulk() -> None:
    """For a process that exists to ingest: the objects it starts with are never garbage
    (freeze), and the cyclic collector runs every 100,000 allocations instead of 700. An
    ingest makes millions of short-lived tuples and no cycles to speak of; at 1M events this
    measured 91,208 vs 85,426 events/s side by side. Never in the window's own process, whose
    GUI thread runs the collector itself (ui/bridge.py)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _lower_priority() -> None:
    """Worker processes yield the CPU to the writer and to a window in the parent process:
    on two cores, four busy threads otherwise leave the GUI thread waiting 50 ms and more."""
    _die_with_parent()
    tune_gc_for_bulk()
    try:
        os.nice(10)
    except OSError:
        pass


def _die_with_parent() -> None:
    """A killed parent must not leave orphans parsing (or writing) on (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # The parent may have died while this process was still starting, before the line above
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def _client_key(client: str) -> str:
    return client_display(client).casefold()


def _mappings_from(rows) -> list[Mapping]:
    out = []
    for key, version, text, at, note in rows:
        try:
            out.append(Mapping.from_row(version, text, at, note))
        except (ValueError, TypeError):  # never written by this code; left out, said once
            import logging
            logging.getLogger(__name__).error("mapping v%s of %r cannot be read", version, key)
    return out


def _noting_refusal(chunks: Iterable[Chunk], ticket: Ticket) -> Iterable[Chunk]:
    for chunk in chunks:
        if chunk.refused:  # its one item holds the rejection that says why
            ticket.summary.refused += (f"{chunk.source}: {chunk.items[0][4].message}",)
        yield chunk


def _tell(stream) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def _candidate_from_pending(p: PendingEvent) -> Candidate:
    if isinstance(p.raw, bytes):
        try:
            text = p.raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Candidate(p.raw, p.source, p.line, p.column, rejection=Rejection(
                RejectCode.INVALID_UTF8, f"invalid UTF-8 at byte {exc.start} of the event",
                p.line, p.column))
    else:
        text = p.raw
    return decode_value(text, line=p.line, column=p.column, source=p.source)


# OWASP's CSV injection list (= + - @ tab CR), and NUL as ASVS 5.0 requirement 1.2.10 adds
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_PLAIN_NUMBER = re.compile(r"-[0-9]+(\.[0-9]+)?\Z")


def safe_cell(value) -> object:
    """Neutralize spreadsheet formulas: a text cell starting with = + - @ (or tab, CR, NUL)
    gets a leading '; a plain negative number stays a number."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if _PLAIN_NUMBER.match(value):  # a negative amount is data, not a formula
            return value
        return "'" + value
    return value


class ChildIngest:
    """Ingest one file in a child process that has its own writer, sharing the database.

    A window uses it for large files: the writer's per-event Python then runs outside the
    window's process, so painting never waits for the GIL (measured on 200,000 events: GUI
    heartbeat p99 4 ms instead of 56 ms). Outcomes come back in batches for the live log; the
    crash switch and Cancel reach the child through shared events.
    """

    def __init__(self, service: IngestService, path: str):
        ctx = get_context("spawn")
        self.cancel = ctx.Event()
        self.crash_on = ctx.Event()
        if service.faults.enabled:
            self.crash_on.set()
        self._recv, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_child_main, name="faultsim-ingest",
            args=(send, str(service.db_path), str(path), service.faults.configs(),
                  service.faults.seed, service.retry_policy, service.workers, self.crash_on,
                  self.cancel))  # not a daemon: it has worker processes of its own
        self.process.start()
        send.close()

    def run(self, service: IngestService, on_outcomes: Callable[[list[OutcomeRecord]], None],
            progress: Callable[[int, int | None], None] | None,
            cancel: threading.Event | None) -> Summary:
        """Relay messages until the child is done; returns its Summary."""
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    self.cancel.set()
                if service.faults.enabled != self.crash_on.is_set():
                    (self.crash_on.set if service.faults.enabled else self.crash_on.clear)()
                if not self._recv.poll(0.05):
                    if not self.process.is_alive() and not self._recv.poll(0):
                        raise RuntimeError(f"the ingest process stopped unexpectedly "
                                           f"(exit code {self.process.exitcode})")
                    continue
                kind, payload = self._recv.recv()
                if kind == "outcomes":
                    service.counters.add(payload)
                    on_outcomes(payload)
                elif kind == "faults":  # the child's own switch fired: the window shows it
                    service.faults.add_injected(payload)
                elif kind == "progress":
                    if progress is not None:
                        progress(*payload)
                elif kind == "done":
                    summary = Summary(**payload)
                    summary.pending = service.outbox.count()
                    return summary
                else:
                    raise StorageError(payload) if kind == "storage" else RuntimeError(payload)
        finally:
            self.cancel.set()
            self.process.join(30)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(5)
            self._recv.close()


def _child_main(conn, db_path, path, fault_configs, seed, retry, workers, crash_on, cancel):
    _die_with_parent()
    tune_gc_for_bulk()
    lock = threading.Lock()

    def send(kind, payload) -> None:
        with lock:
            conn.send((kind, payload))
    faults = FaultSwitch(seed)
    for point, config in fault_configs.items():
        faults.set(point, config)
    faults.enabled = crash_on.is_set()
    stop = threading.Event()
    local_cancel = threading.Event()
    reported = {p: 0 for p in FaultPoint}
    report_lock = threading.Lock()

    def report_faults() -> None:  # the faults that fired here count in the window's switch
        with report_lock:
            now = faults.injected_counts()
            delta = {p.value: now[p] - reported[p] for p in now if now[p] != reported[p]}
            if delta:
                reported.update(now)
                send("faults", delta)

    def mirror() -> None:  # the window's crash switch and Cancel, as they change
        while not stop.wait(0.05):
            faults.enabled = crash_on.is_set()
            report_faults()
            if cancel.is_set() and not local_cancel.is_set():
                svc.retry_policy = RetryPolicy(attempts=1, base_delay_s=0.0, cap_s=0.0)
                local_cancel.set()
    try:
        svc = IngestService(db_path, faults=faults, retry=retry, workers=workers, seed=seed)
    except StorageError as exc:
        send("storage", str(exc))
        return
    watcher = threading.Thread(target=mirror, name="faultsim-mirror", daemon=True)
    watcher.start()
    try:
        def relay(records: list[OutcomeRecord]) -> None:
            # small messages: the window unpickles each in one go, holding its GIL meanwhile
            for i in range(0, len(records), 500):
                send("outcomes", records[i:i + 500])
        svc.subscribe(relay)
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                send("progress", (done, total))
        s = svc.ingest_file(path, progress=progress, cancel=local_cancel)
        report_faults()
        send("done", {k: getattr(s, k) for k in ("received", "accepted", "duplicates",
                                                  "rejected", "failed", "cancelled", "seconds",
                                                  "refused")})
    except StorageError as exc:
        report_faults()
        send("storage", str(exc))
    except Exception as exc:  # reported to the window, never a silent death
        report_faults()
        send("error", f"{type(exc).__name__}: {exc}")
    finally:
        stop.set()
        watcher.join()
        svc.close()
        conn.close()
