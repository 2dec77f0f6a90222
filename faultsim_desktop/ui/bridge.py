"""The one bridge between the engine and the window: engine outcomes become Qt signals.

The engine calls subscribers on its writer thread. The bridge only appends those batches to a
deque there; a GUI-thread timer drains it at most ten times a second and emits coalesced
signals. Blocking engine calls run on worker ``QThread``s ("lanes"), each a ``QObject`` moved
to its thread, reporting back through signals.
"""
from __future__ import annotations

import gc
import itertools
import logging
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Callable, Hashable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core.errors import StorageError
from ..core.model import ClientTotal, Outcome, OutcomeRecord
from ..core.retry import RetryPolicy
from ..core.service import ChildIngest, IngestService, StandbyIngest, Summary

log = logging.getLogger(__name__)

TICK_MS = 100  # drain and repaint at most ten times a second
MAX_OUTCOMES_PER_TICK = 10_000
# the database is asked this often whether anything committed, even with no outcomes (other
# processes write too); its totals are read again only when something did
EXTERNAL_REFRESH_S = 2.0
STREAMING_SNAPSHOT_S = 1.0  # aggregates are read this often while a file streams in
# reads of the totals keep the reader lane busy at most this share of the time: with tens of
# thousands of client/currency rows one read takes a few hundred ms, and the next waits longer
STATS_READ_SHARE = 0.2
YOUNG_GC_MS = 20  # the young generation is collected this often when it has grown
# Every Python call Qt makes while painting (a model's data(), a chart's paint) takes the GIL
# back; a lane thread running Python makes each wait up to the switch interval (5 ms by default)
GIL_SWITCH_S = 0.001
STORAGE_CHECK_TICKS = 10  # the writer looks at its file (deleted? read-only?) once a second
_FINAL_KEYS = ("accepted", "duplicates", "rejected", "failed")
_outcome_of = attrgetter("outcome")


class _Box:
    """Carries any Python value through a queued signal. PySide6 has mishandled the reference
    counts of bare bools and None passed as ``object`` across threads, so values travel boxed."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = value


class _Runner(QObject):
    """Runs callables on its own thread; reports results and errors as signals."""

    done = Signal(str, object)
    failed = Signal(str, str)

    @Slot(str, object)
    def run(self, tag: str, box: object) -> None:
        try:
            result = _Box(box.value())  # type: ignore[attr-defined]
        except Exception as exc:  # errors travel as signals, never as silent prints
            self.failed.emit(tag, f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
        else:
            self.done.emit(tag, result)


class Lane(QObject):
    """A worker thread with a queue of tasks (the thread's event loop is the queue)."""

    request = Signal(str, object)
    done = Signal(str, object)
    failed = Signal(str, str)
    busyChanged = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.qthread = QThread()
        self.qthread.setObjectName(f"faultsim-{name}")
        self._runner = _Runner()
        self._runner.moveToThread(self.qthread)
        self.request.connect(self._runner.run)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self.qthread.finished.connect(self._runner.deleteLater)
        self.inflight = 0
        self.qthread.start()

    def submit(self, tag: str, fn: Callable[[], object]) -> None:
        self.inflight += 1
        if self.inflight == 1:
            self.busyChanged.emit(True)
        self.request.emit(tag, _Box(fn))

    @property
    def busy(self) -> bool:
        return self.inflight > 0

    def _finish(self) -> None:
        self.inflight = max(0, self.inflight - 1)
        if self.inflight == 0:
            self.busyChanged.emit(False)

    @Slot(str, object)
    def _on_done(self, tag: str, result: object) -> None:
        self._finish()
        self.done.emit(tag, result.value)  # type: ignore[attr-defined]

    @Slot(str, str)
    def _on_failed(self, tag: str, message: str) -> None:
        self._finish()
        self.failed.emit(tag, message)

    def stop(self) -> None:
        if self.qthread.isRunning():
            self.qthread.quit()
            self.qthread.wait()


class ReadLane(QObject):
    """Reads of the bridge's service on a thread of their own, with the bridge's ``read``
    interface (ui/paged.py binds to it): a scan of a large client's events must not hold up
    the window's totals, which the bridge's reader lane reads."""

    def __init__(self, bridge, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.lane: Lane | None = Lane(name, self)
        self.lane.done.connect(self._on_done)
        self.lane.failed.connect(self._on_failed)
        self._calls: dict[str, tuple] = {}
        self._ids = itertools.count(1)

    @property
    def service(self):
        return self.bridge.service

    def read(self, fn, done, failed) -> None:
        """``fn()`` on the lane's thread; then ``done(result)`` or ``failed(message)`` here."""
        if self.lane is None:
            return
        tag = str(next(self._ids))
        self._calls[tag] = (done, failed)
        self.lane.submit(tag, fn)

    @Slot(str, object)
    def _on_done(self, tag: str, result) -> None:
        calls = self._calls.pop(tag, None)
        if calls is not None and self.lane is not None:
            calls[0](result)

    @Slot(str, str)
    def _on_failed(self, tag: str, message: str) -> None:
        calls = self._calls.pop(tag, None)
        if calls is not None and self.lane is not None:
            calls[1](message)

    def threads(self) -> list:
        return [self.lane.qthread] if self.lane is not None else []

    def stop(self) -> None:
        """Wait for the read under way, then end the thread; later reads are dropped."""
        if self.lane is not None:
            lane, self.lane = self.lane, None
            lane.stop()
        self._calls.clear()


# Files from this size on are ingested by a child process with its own writer (ChildIngest):
# in the window's process the writer's Python would compete with painting for the GIL.
CHILD_INGEST_BYTES = 1 << 20
# A child process is kept ready for the next large file (StandbyIngest), started this long
# after the window opens or an Open's files end, when nothing is being ingested.
STANDBY_DELAY_MS = 1000


def _ingest_path(svc: IngestService, path: str, progress, cancel: threading.Event,
                 on_outcomes, take_standby: Callable[[], StandbyIngest | None] = lambda: None,
                 meanwhile: Callable[[], None] = lambda: None) -> Summary:
    """Ingest a file without taxing the GUI thread: large files in a child process (the one
    kept ready, when there is one; ``meanwhile`` is called once it has the file), small ones
    in the engine's worker processes (or, without workers, in this thread)."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as exc:
        raise FileNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if svc.workers <= 0:
        with f:
            return svc.ingest_stream(f, path, size=size, progress=progress, cancel=cancel)
    if size >= CHILD_INGEST_BYTES:
        f.close()
        child = ChildIngest(svc, path, take_standby())
        meanwhile()
        return child.run(svc, on_outcomes, progress, cancel)
    with f:  # no size: the engine then parses in its pool, not in this thread
        return svc.ingest_stream(f, path, size=None, cancel=cancel,
                                 progress=lambda done, _total: progress(done, size))


class MainThreadGC(QObject):
    """Collect cyclic garbage on the GUI thread only, as pyqtgraph's GarbageCollector does.

    Python's collector runs in whichever thread allocates when a threshold trips. If a cycle
    holds Qt wrappers, their C++ objects then die on a worker thread and the process can crash.
    A collection's pause grows with the objects it walks: while ``streaming()`` says an ingest
    pours outcomes in, only the young generation is collected, often (a few thousand objects,
    a millisecond or two), and the older ones, which hold the 100,000-row log, wait until the
    ingest ends. Nothing is lost meanwhile: objects without cycles are freed by their counts.
    """

    _users = 0  # automatic collection stays off while any window lives

    def __init__(self, parent: QObject, interval_ms: int = YOUNG_GC_MS,
                 thresholds: tuple[int, int, int] = (3_000, 500, 1000),
                 streaming: Callable[[], bool] = lambda: False):
        super().__init__(parent)
        self._thresholds = thresholds
        self._streaming = streaming
        MainThreadGC._users += 1
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setObjectName("main-thread-gc")
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    @Slot()
    def check(self) -> None:
        t0, t1, t2 = self._thresholds
        c0, c1, c2 = gc.get_count()
        if c0 > t0:
            if self._streaming():
                gc.collect(0)
            else:
                gc.collect(0 if c1 < t1 else 1 if c2 < t2 else 2)

    def stop(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            MainThreadGC._users -= 1
            if MainThreadGC._users == 0:
                gc.collect()  # here, on the GUI thread, before workers may run it
                gc.enable()


class Totals(list):
    """A read of the totals (ClientTotal rows in the reader's order), with what each view
    prepared from every row on the reader lane (``EngineBridge.prepare_totals``), by name.

    With tens of thousands of rows, grouping, counting and ranking them all took the GUI thread
    tens of milliseconds at every refresh; on the reader lane it only shares the GIL."""

    __slots__ = ("prepared",)

    def __init__(self, rows=()):
        super().__init__(rows)
        self.prepared: dict[str, object] = {}


@dataclass
class Snapshot:
    """What the reader lane brings back from the database in one go."""

    stats: list[ClientTotal] | None = None  # None: not read (not asked, or unchanged)
    version: tuple[IngestService, Hashable] | None = None  # the database's, before ``stats``
    stats_read_s: float = 0.0  # how long reading ``stats`` took
    pending_count: int = 0
    pending_changed: bool = False  # the Pending view reads its rows itself (ui/paged.py)
    quarantine_changed: bool = False
    problem: StorageError | None = None  # why the database could not be read, if it could not
    mappings: dict[str, int] | None = None  # client key -> active schema version


@dataclass
class FileProgress:
    index: int
    count: int
    path: str
    done: int
    total: int | None


@dataclass
class Counters:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    undone: int = 0  # net events that left with an import undone in this window
    pending: int = 0
    # the database held events this window did not count when it was first read: the
    # counters are this window's, the Clients panel's totals the database's
    others: bool = False
    queue_depth: int = 0
    events_per_s: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class EngineBridge(QObject):
    """Owns the service's subscription and the worker lanes; everything it emits arrives on
    the GUI thread."""

    # ``object``, not ``list``: PySide converts a list signal's argument to a QVariantList and
    # back, item by item (5 ms for 10,000 outcomes); an object passes as it is
    outcomes = Signal(object)  # list of coalesced OutcomeRecords, at most ten batches a second
    countersChanged = Signal(object)  # Counters, every tick
    statsChanged = Signal(object)  # list[ClientTotal], after committed changes (<= 10 Hz)
    pendingChanged = Signal()  # the outbox may have changed (coalesced, <= 10 Hz)
    quarantineChanged = Signal()  # the quarantine may have changed (coalesced, <= 10 Hz)
    textFinished = Signal(object)  # Summary of a Send
    fileProgress = Signal(object)  # FileProgress
    filesFinished = Signal(object)  # Summary over every file of one Open
    retryFinished = Signal(object)  # Summary of a pending drain
    resubmitFinished = Signal(int, object)  # quarantine id, Summary
    resetFinished = Signal()
    exportFinished = Signal(str, int)  # path, rows
    taskFailed = Signal(str, str)  # what, message
    taskDone = Signal(str, object)  # run_task's tag, result
    busyChanged = Signal(bool)  # a file or text is being ingested
    serviceChanged = Signal(object)
    storageProblem = Signal(str, str)  # kind and message of a storage problem; "" when gone
    mappingsChanged = Signal(dict)  # client key -> active schema version, when it changes

    def __init__(self, service: IngestService, parent: QObject | None = None):
        super().__init__(parent)
        self.service = service
        self._inbox: deque[list[OutcomeRecord]] = deque()
        self._unsubscribe = service.subscribe(self._inbox.append)  # runs on the writer thread
        self.ingest_lane = Lane("ingest", self)
        self.ops_lane = Lane("ops", self)
        self.reader_lane = Lane("reader", self)
        self.check_lane = Lane("check", self)  # the editor's live validation
        self.lanes = (self.ingest_lane, self.ops_lane, self.reader_lane, self.check_lane)
        for lane in self.lanes:
            lane.done.connect(self._on_task_done)
            lane.failed.connect(self._on_task_failed)
        self.ingest_lane.busyChanged.connect(self.busyChanged)
        self._cancel = threading.Event()
        self._progress_latest: FileProgress | None = None  # written by the ingest thread
        self._baseline = {k: 0 for k in (*_FINAL_KEYS, "retries", "undone")}
        self._rate_window: deque[tuple[float, int]] = deque()
        self._others: bool | None = None  # see Counters.others; None: not known yet
        self._others_probe: tuple[int, int] | None = None  # what it had counted when it asked
        self._pending_count = 0
        self._stats_dirty = True
        self._pending_dirty = True
        self._quarantine_dirty = True
        self._closed = False
        self._last_snapshot = 0.0
        self._ticks = 0
        self._read_problem: StorageError | None = None
        # the database's data version when the totals shown were read (IngestService.
        # data_version), and how long that read took; None: read them at the next snapshot
        self._stats_version: tuple[IngestService, Hashable] | None = None
        self._stats_read_s = 0.0
        self._shown_problem: StorageError | None = None
        self._mappings: dict[str, int] | None = None
        self._reads: dict[str, tuple[Callable, Callable]] = {}  # tag -> (done, failed)
        # name -> (state on the GUI thread, work on the reader lane): see prepare_totals
        self._preparers: dict[str, tuple[Callable[[], object], Callable]] = {}
        self._read_ids = itertools.count(1)
        self.timer = QTimer(self)
        self.timer.setObjectName("bridge-tick")
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.gc = MainThreadGC(self, streaming=lambda: self.ingest_lane.busy)
        self._standby: StandbyIngest | None = None
        self._standby_lock = threading.Lock()  # taken on the ingest thread
        self.standby_timer = QTimer(self)
        self.standby_timer.setObjectName("standby-child")
        self.standby_timer.setSingleShot(True)
        self.standby_timer.setInterval(STANDBY_DELAY_MS)
        self.standby_timer.timeout.connect(self._prepare_standby)
        self._arm_standby()
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        self.refresh()

    def ms_until_phase(self, phase: float) -> int:
        """Milliseconds until ``phase`` (0 to 1) of the way from one tick to the next: work
        scheduled at different phases is painted apart from the tick's (the log's) paint."""
        remaining = self.timer.remainingTime()
        if remaining < 0:
            return 0
        return int(remaining + phase * TICK_MS) % TICK_MS

    @Slot()
    def _flush_progress(self) -> None:
        p, self._progress_latest = self._progress_latest, None
        if p is not None:
            self.fileProgress.emit(p)

    def _tick(self) -> None:
        self._flush_progress()
        batch: list[OutcomeRecord] = []
        inbox = self._inbox
        # A commit can report 50,000 outcomes at once; spreading a burst over a few ticks keeps
        # each tick short (up to 100,000 outcomes a second still pass).
        while inbox and len(batch) < MAX_OUTCOMES_PER_TICK:
            batch.extend(inbox.popleft())
        if batch:
            kinds = set(map(_outcome_of, batch))  # in C: the tick holds the GIL less
            # Any outcome may follow a commit: an acknowledgement lost on every attempt
            # reports FAILED, yet its events were stored and counted.
            self._stats_dirty = True
            if Outcome.REJECTED in kinds:
                self._quarantine_dirty = True
            if Outcome.FAILED in kinds or self._pending_count:
                self._pending_dirty = True
            self.outcomes.emit(batch)
        self.countersChanged.emit(self.counters())
        self._ticks += 1
        if self._ticks % STORAGE_CHECK_TICKS == 0:
            self.service.check_storage()  # returns at once; the writer looks
        problem = self.service.problem or self._read_problem
        if problem is not self._shown_problem:
            self._shown_problem = problem
            self.storageProblem.emit(problem.kind if problem else "", str(problem or ""))
        # aggregates at most ten times a second; once a second while a file streams in: the
        # reads compete less with the writer for the GIL, and redrawing the totals chart and the
        # clients table is the GUI thread's longest task (tens of ms with hundreds of clients)
        now = time.monotonic()
        if now - self._last_snapshot >= EXTERNAL_REFRESH_S:
            # other processes (the CLI, a server) write here too
            self._stats_dirty = self._pending_dirty = self._quarantine_dirty = True
        gap = max(STREAMING_SNAPSHOT_S if self.ingest_lane.busy else 0.09,
                  self._stats_read_s / STATS_READ_SHARE)
        if (self._stats_dirty or self._pending_dirty or self._quarantine_dirty) \
                and not self.reader_lane.busy and now - self._last_snapshot >= gap:
            self._last_snapshot = now
            self._request_snapshot()

    def _idle(self) -> bool:
        return not (self.ingest_lane.busy or self.ops_lane.busy or self._inbox)

    def _since_baseline(self) -> dict[str, int]:
        """The service's counters since this window's count began (open, switch, reset)."""
        snap = self.service.counters.snapshot()
        return {k: snap[k] - v for k, v in self._baseline.items()}

    def _counted(self) -> tuple[int, int]:
        """What this window has counted: (final outcomes, the most events it can have
        stored: those accepted and not undone, and the failed, whose commit may have happened
        with its acknowledgement lost)."""
        n = self._since_baseline()
        return sum(n[k] for k in _FINAL_KEYS), n["accepted"] - n["undone"] + n["failed"]

    def _check_others(self, stats: list[ClientTotal]) -> None:
        """Once per database, on a read of its totals asked and answered while this window
        sent nothing: does it hold events this window did not count?"""
        probe, self._others_probe = self._others_probe, None
        if self._others is not None or probe is None or not self._idle() \
                or self._counted() != probe:
            return  # a read that raced this window's own sends says nothing: the next one
        self._others = sum(t.count for t in stats) > probe[1]

    def counters(self) -> Counters:
        c = Counters(**self._since_baseline())
        now = time.monotonic()
        final = c.accepted + c.duplicates + c.rejected + c.failed
        window = self._rate_window
        window.append((now, final))
        while len(window) > 2 and now - window[0][0] > 2.0:
            window.popleft()
        t0, n0 = window[0]
        c.events_per_s = (final - n0) / (now - t0) if now - t0 > 0.05 else 0.0
        c.pending = self._pending_count
        c.others = bool(self._others)
        c.queue_depth = self.service.queue_depth
        c.at = now
        return c

    def _request_snapshot(self) -> None:
        svc = self.service
        want_stats, want_pending, want_q = (self._stats_dirty, self._pending_dirty,
                                            self._quarantine_dirty)
        self._stats_dirty = self._pending_dirty = self._quarantine_dirty = False
        if want_stats and self._others is None:
            self._others_probe = self._counted() if self._idle() else None
        # the totals shown still hold when nothing committed since they were read; until
        # _check_others has its answer, every read of them may give it
        seen = self._stats_version if self._others is not None else None
        # each view's state of this moment, taken here on the GUI thread (only for a read of
        # the totals: nothing else is prepared)
        jobs = [(name, state(), work) for name, (state, work) in self._preparers.items()] \
            if want_stats else []

        def read() -> Snapshot:
            snap = Snapshot()
            # the outbox first: it is a file of its own, and what waits there must show even
            # when the database cannot be read (locked, deleted, damaged)
            snap.pending_count = svc.outbox.count()
            snap.pending_changed, snap.quarantine_changed = want_pending, want_q
            try:
                if want_stats:
                    token = svc.data_version()  # before the read: a commit after it moves it
                    version = None if token is None else (svc, token)
                    if version is None or version != seen:
                        started = time.perf_counter()
                        snap.stats = totals = Totals(svc.stats())
                        for name, state, work in jobs:
                            try:
                                totals.prepared[name] = work(totals, state)
                            except Exception:  # noqa: BLE001 - the view then works it out itself
                                log.exception("preparing the totals for %s failed", name)
                        snap.stats_read_s = time.perf_counter() - started
                        snap.version = version
                    # the service's snapshot, read again once its age passes REGISTRY_TTL_S
                    # (no query otherwise): a mapping saved just before the last read of the
                    # totals still shows
                    snap.mappings = {k: m.version for k, m in svc.registry().by_key.items()}
            except StorageError as exc:
                snap.problem = exc
            return snap
        self.reader_lane.submit("snapshot", read)

    def prepare_totals(self, name: str, state: Callable[[], object],
                       work: Callable[[list[ClientTotal], object], object]) -> None:
        """Have the reader lane run ``work(rows, state())`` on every read of the totals, with
        ``state()`` taken on the GUI thread when the read is asked for; the result reaches
        ``statsChanged``'s slots as ``rows.prepared[name]`` (rows a ``Totals``). ``work`` must
        not touch a widget; a slot that finds its state changed since works it out itself."""
        self._preparers[name] = (state, work)

    def refresh(self) -> None:
        """Read aggregates, pending and quarantine again at the next tick."""
        self._stats_dirty = self._pending_dirty = self._quarantine_dirty = True
        self._stats_version = None  # whatever the database's version says

    def settled(self) -> bool:
        """No outcomes wait for the log, and no read of the totals is asked for or under way:
        after ``refresh``, what the window shows is what the database held when it was asked."""
        return not (self._inbox or self._stats_dirty or self._pending_dirty
                    or self._quarantine_dirty or self.reader_lane.busy)

    def _arm_standby(self) -> None:
        if self.service.workers > 0 and not self._closed:  # without workers: no child ingests
            self.standby_timer.start()

    @Slot()
    def _prepare_standby(self) -> None:
        """Start a child process for the next large file, unless one waits or files are
        being ingested (then once they end)."""
        if self._closed or self.ingest_lane.busy:
            return
        with self._standby_lock:
            if self._standby is not None and self._standby.usable_for(self.service):
                return
            old, self._standby = self._standby, None
        if old is not None:
            old.close()
        self._start_standby()

    def _standby_for_next(self, path: str | None) -> None:
        """On the ingest thread, while a file is ingested: when the next file of the Open
        (``path``) is large too, a child process is made ready for it meanwhile."""
        if path is None:
            return
        try:
            large = os.path.getsize(path) >= CHILD_INGEST_BYTES
        except OSError:
            return  # its own ingest will say why it cannot be read
        with self._standby_lock:
            if not large or self._closed or self._standby is not None:
                return
        self._start_standby()

    def _start_standby(self) -> None:
        """Start a child process and keep it, unless one is kept already or the window
        closed meanwhile (then it is let go)."""
        try:
            standby = StandbyIngest(self.service)
        except (OSError, RuntimeError) as exc:  # no process to spare: files start one anew
            log.warning("no child process kept ready: %s", exc)
            return
        with self._standby_lock:
            if self._standby is None and not self._closed:
                self._standby, standby = standby, None
        if standby is not None:
            standby.close()

    def _take_standby(self) -> StandbyIngest | None:
        with self._standby_lock:
            standby, self._standby = self._standby, None
        return standby

    def standby_ready(self) -> bool:
        """A child process waits, ready for the next large file."""
        with self._standby_lock:
            return (self._standby is not None and self._standby.usable_for(self.service)
                    and self._standby.ready())

    def _release_standby(self) -> None:
        self.standby_timer.stop()
        standby = self._take_standby()
        if standby is not None:
            standby.close()

    def send_text(self, text: str, source: str = "pasted") -> None:
        svc = self.service

        def run() -> Summary:
            summary = svc.submit_text(text, source).wait()
            summary.pending = svc.outbox.count()
            return summary
        self.ingest_lane.submit("text", run)

    def ingest_files(self, paths: list[str | Path]) -> None:
        svc = self.service
        self._cancel = cancel = threading.Event()
        paths = [str(p) for p in paths]

        inbox = self._inbox

        def progress_signal_emit(p: FileProgress) -> None:
            # runs on the ingest thread: only store it; the GUI thread's tick emits the signal
            self._progress_latest = p

        def run() -> Summary:
            total = Summary()
            started = time.perf_counter()
            for i, path in enumerate(paths):
                if cancel.is_set():
                    total.cancelled = True
                    break
                last = [0.0]

                def progress(done: int, size: int | None, i=i, path=path) -> None:
                    now = time.monotonic()
                    if now - last[0] >= 0.1:  # at most ten progress signals a second
                        last[0] = now
                        progress_signal_emit(FileProgress(i, len(paths), path, done, size))
                after = paths[i + 1] if i + 1 < len(paths) else None
                s = _ingest_path(svc, path, progress, cancel, inbox.append, self._take_standby,
                                 lambda: self._standby_for_next(after))
                for k in ("received", "accepted", "duplicates", "rejected", "failed"):
                    setattr(total, k, getattr(total, k) + getattr(s, k))
                total.cancelled = total.cancelled or s.cancelled
                total.refused += s.refused
                size = Path(path).stat().st_size
                progress_signal_emit(FileProgress(i, len(paths), path, size, size))
            total.pending = svc.outbox.count()
            total.seconds = time.perf_counter() - started
            return total
        self.ingest_lane.submit("files", run)

    def cancel_files(self) -> None:
        self._cancel.set()

    @property
    def busy(self) -> bool:
        return self.ingest_lane.busy

    def retry_pending(self) -> None:
        svc = self.service
        self.ops_lane.submit("retry", svc.retry_pending)

    def resubmit(self, qid: int, text: str | None) -> None:
        svc = self.service
        self.ops_lane.submit(f"resubmit:{qid}", lambda: svc.resubmit_quarantined(qid, text))

    def reset_database(self) -> None:
        svc = self.service

        def run() -> None:
            svc.reset()
        self.ops_lane.submit("reset", run)

    def export(self, path: str, kind: str) -> None:
        """kind: events-csv, events-ndjson or clients-csv."""
        svc = self.service

        def run() -> tuple[str, int]:
            with open(path, "w", encoding="utf-8", newline="") as f:
                if kind == "clients-csv":
                    return path, svc.export_stats_csv(f)
                return path, svc.export_events(f, "ndjson" if kind == "events-ndjson" else "csv")
        self.ops_lane.submit("export", run)

    def read(self, fn: Callable[[], object], done: Callable[[object], None],
             failed: Callable[[str], None]) -> None:
        """Run a read on the reader lane; ``done(result)`` or ``failed(message)`` is then
        called on the GUI thread (the paged views read their rows this way)."""
        tag = f"read:{next(self._read_ids)}"
        self._reads[tag] = (done, failed)
        self.reader_lane.submit(tag, fn)

    def run_task(self, tag: str, fn: Callable[[], object], lane: str = "ops") -> None:
        """Any other blocking work; its result comes back through ``taskDone``."""
        target = self.check_lane if lane == "check" else self.ops_lane
        target.submit(f"task:{tag}", fn)

    def set_retry_policy(self, policy: RetryPolicy) -> None:
        self.service.retry_policy = policy

    @Slot(str, object)
    def _on_task_done(self, tag: str, result: object) -> None:
        if self._closed:
            return
        if tag.startswith("read:"):
            self._reads.pop(tag)[0](result)
        elif tag == "snapshot":
            snap: Snapshot = result  # type: ignore[assignment]
            self._pending_count = snap.pending_count
            self._read_problem = snap.problem
            if snap.stats is not None:
                self._stats_version, self._stats_read_s = snap.version, snap.stats_read_s
                self._check_others(snap.stats)
                self.statsChanged.emit(snap.stats)
            if snap.mappings is not None and snap.mappings != self._mappings:
                self._mappings = snap.mappings
                self.mappingsChanged.emit(snap.mappings)
            if snap.pending_changed:
                self.pendingChanged.emit()
            if snap.quarantine_changed:
                self.quarantineChanged.emit()
        elif tag == "text":
            self.textFinished.emit(result)
        elif tag == "files":
            self._flush_progress()
            self._arm_standby()
            self.filesFinished.emit(result)
        elif tag == "retry":
            self._pending_dirty = True
            self.retryFinished.emit(result)
        elif tag.startswith("resubmit:"):
            self._quarantine_dirty = True
            self.resubmitFinished.emit(int(tag.split(":", 1)[1]), result)
        elif tag == "reset":
            self._baseline = {k: v for k, v in self.service.counters.snapshot().items()
                              if k in self._baseline}
            self._rate_window.clear()
            self._others = False  # emptied here
            self.refresh()
            self.resetFinished.emit()
        elif tag == "export":
            path, n = result  # type: ignore[misc]
            self.exportFinished.emit(path, n)
        elif tag.startswith("task:"):
            self.taskDone.emit(tag[5:], result)

    @Slot(str, str)
    def _on_task_failed(self, tag: str, message: str) -> None:
        if self._closed:
            return
        if tag.startswith("read:"):
            self._reads.pop(tag)[1](message)
            return
        if tag == "snapshot":
            self.refresh()
        elif tag == "files":
            self._arm_standby()
        self.taskFailed.emit(tag.split(":", 1)[0], message)

    def replace_service(self, service: IngestService, close_old: bool = True) -> IngestService:
        """Use another database; the caller makes sure nothing is running. Returns the old
        service, closed unless ``close_old`` is False."""
        old = self.service
        self._release_standby()  # it has the old database open
        self._unsubscribe()
        self._inbox.clear()
        self.service = service
        self._unsubscribe = service.subscribe(self._inbox.append)
        self._baseline = {k: 0 for k in self._baseline}
        self._rate_window.clear()
        self._others = None  # the next read of its totals says
        self._pending_count = 0
        self._read_problem = None
        self._mappings = None
        if close_old:
            old.close()
        self._arm_standby()
        self.refresh()
        self.serviceChanged.emit(service)
        return old

    def shutdown(self, close_service: bool = True) -> None:
        """Stop ingesting, wait for every lane, then close the engine. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self._release_standby()
        self._cancel.set()
        # what cannot be stored now goes straight to the durable pending outbox instead of
        # waiting out its backoff: closing must not hang on a simulated crash
        self.service.retry_policy = RetryPolicy(attempts=1, base_delay_s=0.0, cap_s=0.0)
        for lane in self.lanes:
            lane.stop()
        self.gc.stop()  # after the lanes: no worker thread is left to collect on
        self._unsubscribe()
        self._inbox.clear()
        if close_service:
            self.service.close()

    def threads(self) -> list[QThread]:
        return [lane.qthread for lane in self.lanes]
