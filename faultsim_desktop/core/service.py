"""IngestService: the one entry point that the command line and the window both use."""
from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import BinaryIO, Callable, Hashable, Iterable, Iterator, Sequence, TextIO

from .body import BodyEvents, BodyResult, body_result, read_body
from .child import ChildIngest, StandbyIngest, lower_priority, tune_gc_for_bulk
from .counters import SessionCounters, Summary, Ticket
from .exports import event_json, safe_cell, write_events, write_stats_csv
from .faults import FaultSwitch
from .fingercache import FingerprintCache, stored_rows
from .idempotency import Answer, RequestKeys
from .model import (Candidate, ImportTag, OutcomeRecord, Prepared, RejectCode, Rejection,
                    StoredEvent)
from .normalize import parse_time
from .paging import PageQuery, ViewCount
from .parsing import Chunk, decode_value, iter_chunks, parse_chunk, split_text
from .pipeline import LazyRows, prepare, prepare_one, process_chunk_packed
from .retry import Outbox, PendingEvent, RetryPolicy
from .schemas import Registry
from .service_clients import ClientMethods
from .service_explain import ExplainMethods
from .service_imports import ImportBusy, ImportMethods
from .service_mappings import MappingMethods, client_key, mappings_from
from .dburl import label_of
from .errors import StorageError
from .model import ClientTotal, LogRow, QuarantineEntry
from .storage import WriteSessionAPI as WriteSession, open_backend
from .writer import Writer, WriteJob, utc_now

# the names the window, the command line and tests import from here
__all__ = ["ChildIngest", "FINGERPRINT_CACHE", "ImportBusy", "IngestService",
           "POOL_THRESHOLD_BYTES", "StandbyIngest", "Summary", "Ticket", "default_db_path",
           "safe_cell", "tune_gc_for_bulk"]

log = logging.getLogger(__name__)

Subscriber = Callable[[list[OutcomeRecord]], None]
# Files larger than this are parsed by worker processes; smaller ones in the calling thread.
POOL_THRESHOLD_BYTES = 4 << 20
# A worker's answer is unpickled in one go while holding the GIL: small chunks keep that short
# (about 2 ms), so a window in the same process never waits long for its turn.
POOL_CHUNK_BYTES = 256 << 10
# A file ingest hands the writer more only while fewer events than this wait for it, which
# bounds the memory a fast parse holds when the writer is the slower half.
BULK_BACKLOG_EVENTS = 60_000
# The clients' mappings are read again at most this often, so a change made by another process
# (faultsim schema set while a window or a server runs) applies within about a second.
REGISTRY_TTL_S = 1.0
FINGERPRINT_CACHE = 10_000  # stored rows the fingerprint cache keeps by default (0: no cache)


def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("faultsim-desktop", appauthor=False)) / "faultsim.db"


class IngestService(MappingMethods, ImportMethods, ExplainMethods, ClientMethods):
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
        self._init_imports()
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
        self.requests = RequestKeys(self._reader, self.in_writer)
        self.registry()

    @staticmethod
    def require_database(db: str | os.PathLike) -> Path | str:
        """``db`` as a service opens it, when it holds a faultsim database already (a file
        that exists; a PostgreSQL database with faultsim's tables); else a StorageError of
        kind "missing" that says what to do. Creates nothing: commands that only read or fix
        must not leave an empty database behind a typo."""
        backend = open_backend(db)
        try:
            found = backend.exists()
        finally:
            backend.close()
        if found:
            return backend.target
        if backend.is_file:
            raise StorageError(f"There is no database at {backend.target}. Ingest events first "
                               "(faultsim ingest FILE --db PATH), or check the --db path.",
                               path=backend.target, kind="missing")
        raise StorageError(f"There is no faultsim database at {label_of(db)} (it has no "
                           "faultsim tables). Ingest events first (faultsim ingest FILE "
                           "--db URL), or check the --db URL.", kind="missing")

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
                log.exception("subscriber failed")

    def _enqueue(self, items: Sequence[Prepared], ticket: Ticket,
                 cancel: threading.Event | None = None, more_coming: bool = False) -> None:
        ticket.expect(len(items))
        on_done = ticket.add
        if ticket.records is not None:
            writer = self._writer

            def add_with_epoch(part: list[OutcomeRecord]) -> None:  # on the writer thread
                ticket.note_epoch(writer.epoch)
                ticket.add(part)
            on_done = add_with_epoch
        size = self.batch_size
        # whole when it fits: slicing a LazyRows would take it apart here, not in the writer
        parts = (items,) if 0 < len(items) <= size else (
            items[i:i + size] for i in range(0, len(items), size))
        for part in parts:
            self._writer.submit(WriteJob(part, on_done=on_done, cancel=cancel,
                                         on_cancelled=ticket.discard, more_coming=more_coming))

    def submit_text(self, text: str | bytes, source: str = "pasted", *,
                    keep_records: bool = False, kind: str = "paste") -> Ticket:
        """Split, normalize and queue pasted text as an import of its own (``kind``); returns
        at once with a Ticket."""
        ticket = Ticket()
        if keep_records:
            ticket.keep_records()
        tag = self.new_import(source, kind)
        self._running_import(tag, ticket)
        self._enqueue(prepare(split_text(text, source), utc_now(), self.registry(), tag), ticket)
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

    def submit_candidates(self, candidates: list[Candidate], *, keep_records: bool = False,
                          kind: str = "http") -> Ticket:
        """Normalize and queue events already split out of their text (``split_text``) as an
        import of their own, as ``submit_text`` does: the HTTP server looks at them first."""
        tag = self.new_import(candidates[0].source if candidates else kind, kind)
        return self.submit_prepared(prepare(candidates, utc_now(), self.registry(), tag),
                                    keep_records=keep_records)

    def once(self, key: str, body: bytes, run: Callable[[], tuple[int, bytes]],
             final: Callable[[int], bool]) -> Answer:
        """Run a request named by an idempotency key at most once: ``run()`` the first time
        (its answer kept when ``final(status)``), the kept answer for a retry with the same
        body. See ``core/idempotency.py``."""
        return self.requests.once(key, body, run, final)

    def stored_rows(self, ticket: Ticket) -> dict[int, StoredEvent]:
        """The stored row of every event of a finished ticket (kept records) that was accepted
        or found stored, by event id; duplicates' rows come from the fingerprint cache when it
        holds them (core/fingercache.py)."""
        return stored_rows(ticket, self.fingerprint_cache, self.events_by_id)

    def read_body(self, body: bytes, source: str) -> BodyEvents:
        """The events of a request's body (one object, an array, NDJSON), or why it holds none
        (core/body.py); stores nothing."""
        return read_body(body, source)

    def store_body(self, candidates: list[Candidate], timeout: float | None = None
                   ) -> BodyResult:
        """Store a body's events (``read_body``) and wait for them: what each became, with
        its stored row. TimeoutError when the outcomes take longer than ``timeout``;
        RuntimeError when the writer has stopped."""
        ticket = self.submit_candidates(candidates, keep_records=True)
        ticket.wait(timeout)
        return body_result(ticket.records, ticket.items, self.stored_rows(ticket),
                           self._stored_reject_code)

    def _stored_reject_code(self, quarantine_id: int) -> str | None:
        entry = self.quarantine_entry(quarantine_id)
        return entry.code if entry is not None else None

    def ingest_file(self, path: str | os.PathLike, *,
                    progress: Callable[[int, int | None], None] | None = None,
                    cancel: threading.Event | None = None,
                    tag: ImportTag | None = None) -> Summary:
        """Stream a file (or "-" for standard input) through the engine; blocks until done."""
        if str(path) == "-":
            return self.ingest_stream(sys.stdin.buffer, "<stdin>", progress=progress,
                                      cancel=cancel, tag=tag)
        p = Path(path)
        try:
            size = p.stat().st_size
            f = open(p, "rb")
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {p}: {exc.strerror or exc}") from exc
        with f:
            return self.ingest_stream(f, str(p), size=size, progress=progress, cancel=cancel,
                                      tag=tag)

    def ingest_stream(self, stream: BinaryIO, source: str, *, size: int | None = None,
                      progress: Callable[[int, int | None], None] | None = None,
                      cancel: threading.Event | None = None, kind: str = "file",
                      tag: ImportTag | None = None) -> Summary:
        """Stream a file through the engine as one import (``kind``, or the one ``tag``
        names); blocks until done."""
        ticket = Ticket()
        tag = tag or self.new_import(source, kind)
        self._running_import(tag, ticket)
        use_pool = self.workers > 0 and (size is None or size > POOL_THRESHOLD_BYTES)
        cancelled = False
        try:
            if use_pool:
                cancelled = self._ingest_pooled(stream, source, size, ticket, progress, cancel,
                                                tag)
            else:
                for chunk in _noting_refusal(iter_chunks(stream, source), ticket):
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        break
                    self._enqueue(prepare(parse_chunk(chunk), utc_now(), self.registry(), tag),
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
                                                 initializer=lower_priority)
            return self._pool

    def _ingest_pooled(self, stream, source, size, ticket, progress, cancel, tag) -> bool:
        pool = self._get_pool()
        inflight: deque = deque()
        limit = self.workers * 4 + 2
        try:
            for chunk in _noting_refusal(iter_chunks(stream, source, chunk_bytes=POOL_CHUNK_BYTES),
                                         ticket):
                if cancel is not None and cancel.is_set():
                    return True
                inflight.append(pool.submit(process_chunk_packed, chunk, utc_now(),
                                            self.registry() or None))
                while len(inflight) >= limit:  # the file goes on: more chunks will follow
                    items = LazyRows(inflight.popleft().result(), tag)
                    self._writer.wait_for_room(BULK_BACKLOG_EVENTS, cancel)
                    self._enqueue(items, ticket, cancel, more_coming=True)
                if progress is not None:
                    progress(_tell(stream), size)
            while inflight:
                if cancel is not None and cancel.is_set():
                    return True
                self._enqueue(LazyRows(inflight.popleft().result(), tag), ticket, cancel,
                              more_coming=bool(inflight))
            return False
        finally:
            for fut in inflight:
                fut.cancel()

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
                self._enqueue([prepare_one(_candidate_from_pending(p), now, p.id, registry,
                                           ImportTag.from_json(p.import_tag))
                               for p in page], ticket)
            ticket.seal()
            summary = ticket.wait()
        finally:
            self._drain_lock.release()
        summary.pending = self.outbox.count()
        return summary

    def registry(self) -> Registry:
        """The clients' active mappings, as ingestion uses them. Read again at most once per
        REGISTRY_TTL_S (other processes may change them); a failed read keeps the last one."""
        if time.monotonic() - self._registry_at >= REGISTRY_TTL_S:
            self._load_registry(force=False)
        return self._registry

    def refresh_registry(self) -> None:
        """Read the clients' mappings now, whatever their age (a service that waited long
        before its first ingest: see child.StandbyIngest)."""
        self._load_registry(force=True)

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
                self._registry = Registry(mappings_from(rows))
            self._registry_at = time.monotonic()
        finally:
            self._registry_lock.release()

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
        ticket = self.submit_text(body, source=f"quarantine #{qid}", kind="resubmit")
        summary = ticket.wait()
        if summary.received and summary.accepted + summary.duplicates == summary.received:
            self.in_writer(lambda s: s.set_quarantine_status([qid], "resolved"))
        summary.pending = self.outbox.count()
        return summary

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

    def data_version(self) -> Hashable | None:
        """A token that changes whenever anything commits to the database: this service's
        writer, another service, another process. Taken before a read, an equal token taken
        later means that read still holds. None when not known (a database that cannot be
        asked, a file that the path no longer names): then read."""
        if self.backend.moved_away():
            return None  # a read says why
        return self.backend.data_version()

    def stats_from_events(self) -> list[ClientTotal]:
        with self._reader() as r:
            return r.group_by_events()

    def recent_log(self, limit: int = 100) -> list[LogRow]:
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

    def events_json(self, client: str | None = None, since: str | None = None,
                    after: int = 0, limit: int = 100) -> list[dict]:
        """``events_page`` as JSON-ready dicts (core/exports.py ``event_json``): ``client``
        by name (any spelling that groups with it), ``since`` any time text ingestion reads.
        ValueError when ``since`` is not a time."""
        key = client_key(client) if client else None
        since_utc = parse_time(since) if since else None
        if since and since_utc is None:
            raise ValueError(f"since: {since!r} is not a recognised time "
                             "(try 2024-01-31T12:00:00Z)")
        rows = self.events_page(key, since_utc, after, limit)
        return [event_json(StoredEvent._make(row)) for row in rows]

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
        with self._reader() as r:
            return write_events(r.iter_events(), out, fmt)

    def export_stats_csv(self, out: TextIO) -> int:
        return write_stats_csv(self.stats(), out)

    def in_writer(self, fn: Callable[[WriteSession], object], timeout: float | None = 60):
        """Run ``fn(write_session)`` on the writer thread between batches and return its
        result (or raise what it raised). TimeoutError when the writer does not get to it
        within ``timeout`` seconds."""
        job = WriteJob([], command=fn)
        self._writer.submit(job)
        if not job.done.wait(timeout):
            raise TimeoutError("the database did not answer in time")
        if job.error is not None:
            raise job.error
        return job.result

    def reset(self) -> None:
        """Delete every event, total, log row, quarantine entry and pending event."""
        self.in_writer(lambda s: s.reset())
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


def _noting_refusal(chunks: Iterable[Chunk], ticket: Ticket) -> Iterable[Chunk]:
    for chunk in chunks:
        if chunk.refused:  # its one item holds the rejection that says why
            _text, _line, _column, _offset, rejection = chunk.items[0]
            ticket.summary.refused += (f"{chunk.source}: {rejection.message}",)
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
