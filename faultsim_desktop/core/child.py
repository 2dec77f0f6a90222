"""Work in other processes: the worker processes that parse large files, and ChildIngest, which
ingests one file in a child process with a writer of its own (started ahead as a
StandbyIngest)."""
from __future__ import annotations

import enum
import functools
import gc
import multiprocessing
import os
import queue
import sys
import threading
import time
from multiprocessing import get_context
from typing import TYPE_CHECKING, Callable, NamedTuple

from .counters import Summary, Ticket
from .faults import FaultPoint, FaultSwitch
from .model import OutcomeRecord
from .retry import RetryPolicy
from .errors import StorageError

if TYPE_CHECKING:
    from .service import IngestService

OUTCOMES_PER_MESSAGE = 500  # the window unpickles each message in one go, holding its GIL
# Messages of outcomes waiting to be sent: a commit reports up to 50,000 at once, and the
# writer hands them over without waiting for the window to read them (see _Relay).
RELAY_BACKLOG_MESSAGES = 200
# Outcomes cross the pipe as plain tuples: unpickling a NamedTuple runs its Python ``__new__``
# once per record on the window's side, where every held moment of the GIL delays a paint.
# tuple.__new__ through partial and map rebuilds the records there without one Python frame.
_as_record = functools.partial(tuple.__new__, OutcomeRecord)


def tune_gc_for_bulk() -> None:
    """For a process that exists to ingest: the objects it starts with are never garbage
    (freeze), and the cyclic collector runs every 100,000 allocations instead of 700. An
    ingest makes millions of short-lived tuples and no cycles to speak of (docs/benchmarks.md).
    Never in the window's own process, whose GUI thread runs the collector itself
    (ui/bridge.py)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


WORKER_NICENESS = 19  # the lowest priority: see lower_priority


def lower_priority() -> None:
    """Worker processes yield the CPU to the writer and to a window in the parent process:
    on two cores, four busy threads otherwise leave the GUI thread waiting 50 ms and more, and
    the writer, which bounds a large ingest, waiting its turn behind them. At niceness 19
    rather than 10, a million feed lines take 7% less wall time (docs/benchmarks.md,
    "Worker priority"); the workers still have every cycle nothing else wants."""
    die_with_parent()
    tune_gc_for_bulk()
    try:
        os.nice(WORKER_NICENESS)  # capped at 19 by the kernel, whatever the parent's
    except OSError:
        pass


def die_with_parent() -> None:
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


class Report(enum.Enum):
    """What a child ingest tells its parent."""

    READY = "ready"  # payload: None; the database is open, the child waits for its file
    OUTCOMES = "outcomes"  # payload: a list of OutcomeRecord's fields, as plain tuples
    FAULTS = "faults"  # payload: {fault point value: faults injected since the last report}
    PROGRESS = "progress"  # payload: (bytes done, total bytes or None)
    DONE = "done"  # payload: the Summary's fields as a dict
    STORAGE_ERROR = "storage"  # payload: the StorageError's message
    ERROR = "error"  # payload: "ExceptionType: message"


class Message(NamedTuple):
    report: Report
    payload: object


_SUMMARY_FIELDS = ("received", "accepted", "duplicates", "rejected", "failed", "cancelled",
                   "seconds", "refused")


def _standby_key(service: IngestService) -> tuple:
    """What a ready child process was started for: the same database, engine, workers and
    fault seed (the fault settings and retry policy travel with the job)."""
    return type(service), str(service.db_path), service.workers, service.faults.seed


class StandbyIngest:
    """A child process started before it is needed: its interpreter up, the engine imported
    and the database open, waiting for the one file it will ingest (ChildIngest).

    Starting a child takes a few tenths of a second of spawning, importing and opening; a
    window keeps one ready so that a large file starts at once. An idle one holds an open
    connection and no transaction, and costs no CPU. ``close`` lets it go."""

    def __init__(self, service: IngestService):
        ctx = get_context("spawn")
        self.key = _standby_key(service)
        self.cancel = ctx.Event()
        self.crash_on = ctx.Event()
        if service.faults.enabled:
            self.crash_on.set()
        self.recv, send = ctx.Pipe(duplex=False)
        jobs_recv, self._jobs = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_child_main, name="faultsim-ingest",
            args=(type(service), send, jobs_recv, str(service.db_path), service.faults.seed,
                  service.workers, self.crash_on, self.cancel))
        # not a daemon: it has worker processes of its own
        self.process.start()
        send.close()
        jobs_recv.close()
        self._given = False
        self._ready = False

    def ready(self, timeout: float = 0) -> bool:
        """The child has opened the database and waits for its file (it says so first);
        waits up to ``timeout`` seconds for it to say so."""
        if not self._ready and not self._given and self.recv.poll(timeout):
            self._ready = True
            if self.recv.recv().report is not Report.READY:  # it could not open: it ended
                self.close()
        return self._ready and not self._given

    def usable_for(self, service: IngestService) -> bool:
        """Still waiting (or still starting), started for this service's database and
        settings."""
        return (not self._given and self.key == _standby_key(service)
                and self.process.is_alive())

    def give(self, path: str, tag, service: IngestService) -> None:
        """Hand over the file: the child ingests it with the service's fault settings and
        retry policy as they are now, and the mappings read again."""
        self._given = True
        (self.crash_on.set if service.faults.enabled else self.crash_on.clear)()
        try:
            self._jobs.send((str(path), tag, service.faults.configs(), service.retry_policy))
        except OSError:  # it could not open the database and ended: its report says why
            pass
        self._jobs.close()

    def close(self, timeout: float = 2) -> None:
        """Let an unused child go: it closes its database and ends (or, still waiting to open
        it after ``timeout`` seconds, is ended: it holds no transaction)."""
        if self._given and self._jobs.closed:
            return
        self._given = True
        self._jobs.close()  # the child reads the end of its jobs and returns
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.recv.close()


class ChildIngest:
    """Ingest one file in a child process that has its own writer, sharing the database.

    A window uses it for large files: the writer's per-event Python then runs outside the
    window's process, so painting never waits for the GIL. Outcomes come back in batches for
    the live log; the crash switch and Cancel reach the child through shared events. The
    child is ``standby`` when one is given and still fits the service, else a new one.
    """

    def __init__(self, service: IngestService, path: str, standby: StandbyIngest | None = None):
        if standby is None or not standby.usable_for(service):
            if standby is not None:
                standby.close()
            standby = StandbyIngest(service)
        # the import is named here, so this service knows it is running until ``run`` ends
        # (an undo of it is refused meanwhile)
        self.tag = service.new_import(str(path), "file")
        self._running = Ticket()
        service._running_import(self.tag, self._running)
        self.cancel, self.crash_on = standby.cancel, standby.crash_on
        self._recv, self.process = standby.recv, standby.process
        standby.give(str(path), self.tag, service)

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
                report, payload = self._recv.recv()
                if report is Report.READY:
                    continue
                if report is Report.OUTCOMES:
                    payload = list(map(_as_record, payload))
                    service.counters.add(payload)
                    on_outcomes(payload)
                elif report is Report.FAULTS:  # the child's own switch fired: the window shows it
                    service.faults.add_injected(payload)
                elif report is Report.PROGRESS:
                    if progress is not None:
                        progress(*payload)
                elif report is Report.DONE:
                    summary = Summary(**payload)
                    summary.pending = service.outbox.count()
                    return summary
                elif report is Report.STORAGE_ERROR:
                    raise StorageError(payload)
                else:
                    raise RuntimeError(payload)
        finally:
            self._running.seal()
            self.cancel.set()
            self.process.join(30)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(5)
            self._recv.close()


class _Relay:
    """Outcomes from the child's writer to the window, sent by a thread of their own.

    The writer is the ingest's one serial stage; turning outcomes into messages and writing
    them to the pipe took it about a second a million events, longer whenever the window
    was slow to read and the pipe was full. Now it only hands slices over (waiting only when
    RELAY_BACKLOG_MESSAGES are already queued), and ``close`` sends what is left, so that
    every outcome reaches the window before the ingest's end does."""

    def __init__(self, send: Callable[[Report, object], None]):
        self._send = send
        self._queue: queue.Queue = queue.Queue(maxsize=RELAY_BACKLOG_MESSAGES)
        self._broken = self._closed = False
        self._thread = threading.Thread(target=self._run, name="faultsim-relay", daemon=True)
        self._thread.start()

    def __call__(self, records: list[OutcomeRecord]) -> None:  # on the writer thread
        for i in range(0, len(records), OUTCOMES_PER_MESSAGE):
            if self._closed:  # after the ingest (a late retry while the service closes)
                self._out(records[i:i + OUTCOMES_PER_MESSAGE])
            else:
                self._queue.put(records[i:i + OUTCOMES_PER_MESSAGE])

    def _out(self, part: list[OutcomeRecord]) -> None:
        if self._broken:
            return
        try:
            self._send(Report.OUTCOMES, list(map(tuple, part)))
        except (OSError, ValueError):  # the window is gone; PDEATHSIG ends this process
            self._broken = True

    def _run(self) -> None:
        while True:
            part = self._queue.get()
            if part is None:
                return
            self._out(part)  # on a dead pipe it keeps draining: the writer never waits on it

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()


def _child_main(service_class: type[IngestService], conn, jobs, db_path, seed, workers,
                crash_on, cancel):
    """Open the service, wait for the one file to ingest (or for the end of ``jobs``), ingest
    it and report to ``conn``."""
    die_with_parent()
    tune_gc_for_bulk()
    lock = threading.Lock()

    def send(report: Report, payload) -> None:
        with lock:
            conn.send(Message(report, payload))
    faults = FaultSwitch(seed)
    try:
        svc = service_class(db_path, faults=faults, workers=workers, seed=seed)
    except StorageError as exc:
        send(Report.STORAGE_ERROR, str(exc))
        return
    send(Report.READY, None)
    try:
        job = jobs.recv()
    except (EOFError, OSError):  # let go unused
        job = None
    finally:
        jobs.close()
    if job is None:
        svc.close()
        conn.close()
        return
    path, tag, fault_configs, retry = job
    for point, config in fault_configs.items():
        faults.set(point, config)
    faults.enabled = crash_on.is_set()
    svc.retry_policy = retry
    svc.refresh_registry()  # mappings saved while it waited apply
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
                send(Report.FAULTS, delta)

    def mirror() -> None:  # the window's crash switch and Cancel, as they change
        while not stop.wait(0.05):
            faults.enabled = crash_on.is_set()
            report_faults()
            if cancel.is_set() and not local_cancel.is_set():
                svc.retry_policy = RetryPolicy(attempts=1, base_delay_s=0.0, cap_s=0.0)
                local_cancel.set()
    watcher = threading.Thread(target=mirror, name="faultsim-mirror", daemon=True)
    watcher.start()
    relay = _Relay(send)

    def finish(report: Report, payload) -> None:  # every outcome and fault first, then the end
        relay.close()
        report_faults()
        send(report, payload)
    try:
        svc.subscribe(relay)
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                send(Report.PROGRESS, (done, total))
        s = svc.ingest_file(path, progress=progress, cancel=local_cancel, tag=tag)
        finish(Report.DONE, {k: getattr(s, k) for k in _SUMMARY_FIELDS})
    except StorageError as exc:
        finish(Report.STORAGE_ERROR, str(exc))
    except Exception as exc:  # reported to the window, never a silent death
        finish(Report.ERROR, f"{type(exc).__name__}: {exc}")
    finally:
        stop.set()
        watcher.join()
        svc.close()
        conn.close()
