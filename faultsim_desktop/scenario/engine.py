"""The engine a scenario plays against: a child process hosting an ``IngestService`` on the
scenario's database, commanded over a pipe.

A real process, so a ``restart`` step can kill it as the operating system would (SIGKILL,
mid-transaction, no clean-up) and start another on the same database. Its command thread
applies fault changes while ingests run in threads of their own; the outcomes it publishes come
back to the parent as running tallies, and what the parent has heard when the process dies is
exactly what a sender would have heard.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from multiprocessing import get_context
from typing import Callable

from ..core.child import die_with_parent
from ..core.counters import Summary, Ticket
from ..core.faults import FaultMode, FaultPoint, FaultSwitch, parse_fault_spec
from ..core.model import Outcome, OutcomeRecord
from ..core.parsing.chunks import Chunk, parse_chunk
from ..core.pipeline import prepare
from ..core.retry import RetryPolicy
from ..core.service import utc_now  # the writer's clock, through the service

TALLY_EVERY_S = 0.1  # how often the child sends what its writer published since
LOST_ACK = "acknowledgement lost"  # how the writer's RETRYING reason names a lost acknowledgement
IMPORT_KIND = "scenario"  # the kind the imports list shows for a scenario's sends


class EngineGone(RuntimeError):
    """The engine process ended (killed, or it stopped) before answering."""


class EngineFailed(RuntimeError):
    """The engine answered a command with an error (the message says which and why)."""


@dataclass
class Tally:
    """What the engine's writer published, as the parent has heard it: outcomes by kind,
    per import (uid), writer retries and lost acknowledgements the writer caught, and the
    faults its switch injected."""

    outcomes: Counter = field(default_factory=Counter)  # Outcome value -> events
    per_import: dict[int, Counter] = field(default_factory=dict)
    retries: int = 0
    lost_acks: int = 0
    injected: Counter = field(default_factory=Counter)  # FaultPoint value -> firings

    def add(self, delta: dict) -> None:
        self.outcomes.update(delta["outcomes"])
        for uid, counts in delta["per_import"].items():
            self.per_import.setdefault(uid, Counter()).update(counts)
        self.retries += delta["retries"]
        self.lost_acks += delta["lost_acks"]
        self.injected.update(delta["injected"])


class Job:
    """A command the engine works on in the background (an ingest, a stream, a retry of the
    pending outbox); ``wait`` returns its Summary, or raises EngineGone / EngineFailed."""

    def __init__(self, job_id: int):
        self.id = job_id
        self.uid: int | None = None  # the import its events belong to, once the engine said
        self._done = threading.Event()
        self._summary: Summary | None = None
        self._error: BaseException | None = None

    def finish(self, summary: Summary | None, error: BaseException | None = None) -> None:
        if not self._done.is_set():
            self._summary, self._error = summary, error
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Summary:
        if not self._done.wait(timeout):
            raise TimeoutError(f"engine job {self.id} did not finish in time")
        if self._error is not None:
            raise self._error
        assert self._summary is not None
        return self._summary


class EngineProcess:
    """One engine process on ``db``. Thread-safe: any thread may command it.

    ``on_tally(delta)`` is called on the reader thread with each tally the child sends (see
    ``Tally.add``). ``kill()`` ends the process with SIGKILL; every command and job still
    waiting then raises EngineGone.
    """

    def __init__(self, db, *, seed: int | None = None, retries: int = 5,
                 faults: dict[str, str] | None = None,
                 on_tally: Callable[[dict], None] | None = None,
                 start_timeout: float = 60.0):
        ctx = get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._calls: dict[int, list] = {}  # request id -> [Event, ok, result]
        self._jobs: dict[int, Job] = {}
        self._next_id = 0
        self._gone = False
        self._ready = threading.Event()
        self._start_error: str | None = None
        self.on_tally = on_tally
        self.process = ctx.Process(
            target=_engine_main, name="faultsim-engine",
            args=(child_conn, str(db), seed, retries, dict(faults or {})), daemon=True)
        self.process.start()
        child_conn.close()
        self.pid = self.process.pid
        self._reader = threading.Thread(target=self._read, name="faultsim-engine-reader",
                                        daemon=True)
        self._reader.start()
        deadline = time.monotonic() + start_timeout
        while not self._ready.wait(0.05):
            if self._gone or time.monotonic() > deadline:
                break
        if not self._ready.is_set() or self._start_error is not None:
            why = self._start_error or (
                "it stopped while starting" if self._gone else "it did not start in time")
            self.kill()
            raise EngineFailed(f"the engine could not open the database: {why}")

    @property
    def alive(self) -> bool:
        return not self._gone and self.process.is_alive()

    def _read(self) -> None:
        try:
            while True:
                kind, ident, payload = self._conn.recv()
                if kind == "reply":
                    with self._lock:
                        waiter = self._calls.pop(ident, None)
                    if waiter is not None:
                        waiter[1], waiter[2] = payload
                        waiter[0].set()
                elif kind == "tally":
                    if self.on_tally is not None:
                        self.on_tally(payload)
                elif kind == "job":
                    with self._lock:
                        job = self._jobs.pop(ident, None)
                    if job is not None:
                        ok, result = payload
                        job.finish(Summary(**result) if ok else None,
                                   None if ok else EngineFailed(result))
                elif kind == "ready":
                    self._ready.set()
                elif kind == "start_error":
                    self._start_error = payload
                    self._ready.set()
        except (EOFError, OSError):
            pass
        finally:
            self._mark_gone()

    def _mark_gone(self) -> None:
        with self._lock:
            self._gone = True
            calls, self._calls = self._calls, {}
            jobs, self._jobs = self._jobs, {}
        why = EngineGone(f"the engine process ended (exit code {self.process.exitcode})")
        for waiter in calls.values():
            waiter[1], waiter[2] = False, why
            waiter[0].set()
        for job in jobs.values():
            job.finish(None, why)

    def _post(self, message) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, ValueError) as exc:  # the pipe closed: the process is gone
            raise EngineGone(f"the engine process ended ({exc})") from None

    def call(self, name: str, *args, timeout: float | None = 60.0):
        """Run command ``name`` in the engine and return its result."""
        waiter = [threading.Event(), False, None]
        with self._lock:
            if self._gone:
                raise EngineGone("the engine process has ended")
            self._next_id += 1
            ident = self._next_id
            self._calls[ident] = waiter
        self._post(("call", ident, (name, args)))
        if not waiter[0].wait(timeout):
            with self._lock:
                self._calls.pop(ident, None)
            raise TimeoutError(f"the engine did not answer {name!r} within {timeout:g} s")
        if not waiter[1]:
            error = waiter[2]
            raise error if isinstance(error, BaseException) else EngineFailed(error)
        return waiter[2]

    def _new_job(self) -> Job:
        with self._lock:
            if self._gone:
                raise EngineGone("the engine process has ended")
            self._next_id += 1
            job = Job(self._next_id)
            self._jobs[job.id] = job
        return job

    def _start_job(self, name: str, *args) -> Job:
        job = self._new_job()
        try:
            job.uid = self.call(name, job.id, *args)
        except BaseException as exc:
            with self._lock:
                self._jobs.pop(job.id, None)
            job.finish(None, exc)
            raise
        return job

    # the commands

    def set_faults(self, specs: dict[str, str]) -> None:
        """Set fault points: {point: spec} (``parse_fault_spec`` text, e.g. "mid_transaction:0.4";
        a point's spec replaces that point's setting only)."""
        self.call("faults", dict(specs))

    def ingest(self, source: str, data: bytes) -> Job:
        """Ingest ``data`` as ``faultsim ingest`` reads a file named ``source``."""
        return self._start_job("ingest", source, data)

    def open_stream(self, source: str) -> Job:
        """An import fed piece by piece (``feed``), for sends paced at a rate; ``end_stream``
        says no more is coming, and the job finishes once every piece has an outcome."""
        return self._start_job("stream_open", source)

    def feed(self, job: Job, data: bytes, line: int, offset: int) -> None:
        """Complete lines of the stream's input, the first one at ``line`` and byte ``offset``."""
        self.call("stream_feed", job.id, data, line, offset)

    def end_stream(self, job: Job) -> None:
        self.call("stream_end", job.id)

    def retry_pending(self) -> Job:
        """Send the pending outbox again (a job: it runs while other commands are answered)."""
        return self._start_job("retry")

    def serve(self, port: int = 0) -> int:
        """Serve the HTTP API on 127.0.0.1:``port`` (0: any free one); returns the port."""
        return self.call("serve", port)

    def status(self) -> dict:
        """events, quarantined, pending, queue, problem: cheap enough to ask a few times a
        second."""
        return self.call("status", timeout=30.0)

    def figures(self) -> tuple[list, list]:
        """The stored totals per client and currency, twice: the aggregates ``stats()`` keeps,
        and the same recomputed from the stored events (``stats_from_events()``)."""
        return self.call("figures", timeout=120.0)

    def stats(self) -> list:
        """The stored totals per client and currency (``stats()``): the live figures."""
        return self.call("stats", timeout=60.0)

    def imports_accepted(self) -> dict[int, int]:
        """Events stored under each import (by uid), read off the stored rows."""
        return self.call("imports", timeout=60.0)

    def registry(self):
        """The clients' mappings the engine normalizes with (None when there are none)."""
        return self.call("registry")

    def kill(self) -> None:
        """End the process as the operating system would: SIGKILL, no clean-up at all."""
        if self.process.is_alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.join(30)
        self._finish()

    def close(self, timeout: float = 60.0) -> None:
        """Stop cleanly: the HTTP server stops, the writer drains, the database closes."""
        if self.alive:
            try:
                self.call("close", timeout=timeout)
            except (EngineGone, EngineFailed, TimeoutError):
                pass
            self.process.join(timeout)
        if self.process.is_alive():
            self.kill()
            return
        self._finish()

    def _finish(self) -> None:
        # the process has ended, so the reader meets the end of the pipe; closing the pipe
        # under a thread still reading it is not safe
        self._reader.join(30)
        self._conn.close()
        self._mark_gone()


def _engine_main(conn, db: str, seed, retries: int, fault_specs: dict[str, str]) -> None:
    die_with_parent()
    from ..core.errors import StorageError
    from ..core.service import IngestService

    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    faults = FaultSwitch(seed)
    try:
        for spec in fault_specs.values():
            faults.set(*parse_fault_spec(spec))
        svc = IngestService(db, faults=faults, retry=RetryPolicy.with_retries(retries),
                            seed=seed, workers=0)
    except (StorageError, ValueError, OSError) as exc:
        send(("start_error", None, str(exc)))
        conn.close()
        return
    tally = _ChildTally(faults, send)
    svc.subscribe(tally.add)
    engine = _ChildEngine(svc, faults, tally, send)
    send(("ready", None, os.getpid()))
    stop = threading.Event()
    relay = threading.Thread(target=tally.relay, args=(stop,), name="engine-tally", daemon=True)
    relay.start()
    # events an earlier engine left in the pending outbox go first, as ``faultsim serve`` does
    threading.Thread(target=engine.retry_at_start, name="engine-outbox", daemon=True).start()
    try:
        while True:
            try:
                _kind, ident, (name, args) = conn.recv()
            except (EOFError, OSError):
                break  # the parent is gone
            if name == "close":
                engine.close()
                stop.set()
                relay.join()
                tally.flush()
                send(("reply", ident, (True, None)))
                break
            engine.dispatch(ident, name, args)
    finally:
        stop.set()
        engine.close()
        conn.close()


class _ChildTally:
    """Counts what the writer publishes and sends the parent the difference now and then."""

    def __init__(self, faults: FaultSwitch, send):
        self._faults = faults
        self._send = send
        self._lock = threading.Lock()
        self._outcomes: Counter = Counter()
        self._per_import: dict[int, Counter] = {}
        self._retries = 0
        self._lost = 0
        # the events (import, source, line) whose acknowledgement was lost: each counts once,
        # however many of its retries lose theirs too
        self._lost_seen: set[tuple] = set()
        self._injected_sent = {p: 0 for p in FaultPoint}

    def add(self, records: list[OutcomeRecord]) -> None:  # on the writer thread
        with self._lock:
            for r in records:
                if r.outcome is Outcome.RETRYING:
                    self._retries += 1
                    if r.reason and r.reason.startswith(LOST_ACK):
                        event = (r.import_tag.uid if r.import_tag else None, r.source, r.line)
                        if event not in self._lost_seen:
                            self._lost_seen.add(event)
                            self._lost += 1
                    continue
                self._outcomes[r.outcome.value] += 1
                if r.import_tag is not None:
                    per = self._per_import.get(r.import_tag.uid)
                    if per is None:
                        per = self._per_import[r.import_tag.uid] = Counter()
                    per[r.outcome.value] += 1

    def flush(self) -> None:
        """Send what changed since the last flush (sent under the lock, so a job's ``done``
        sent after its flush always follows its outcomes)."""
        with self._lock:
            now = self._faults.injected_counts()
            injected = {p.value: now[p] - self._injected_sent[p] for p in now
                        if now[p] != self._injected_sent[p]}
            if not (self._outcomes or self._per_import or self._retries or injected):
                return
            delta = {"outcomes": dict(self._outcomes), "retries": self._retries,
                     "lost_acks": self._lost, "injected": injected,
                     "per_import": {u: dict(c) for u, c in self._per_import.items()}}
            self._injected_sent = now
            self._outcomes, self._per_import = Counter(), {}
            self._retries = self._lost = 0
            self._send(("tally", None, delta))

    def relay(self, stop: threading.Event) -> None:
        while not stop.wait(TALLY_EVERY_S):
            try:
                self.flush()
            except (OSError, ValueError):
                return  # the parent is gone


class _Stream:
    def __init__(self, tag):
        self.tag = tag
        self.tickets: list[Ticket] = []
        self.started = time.perf_counter()


class _ChildEngine:
    """The commands, run in the child: quick ones on the command thread, the rest each in a
    thread of its own so a fault change is never stuck behind an ingest."""

    def __init__(self, svc, faults: FaultSwitch, tally: _ChildTally, send):
        self.svc = svc
        self.faults = faults
        self.tally = tally
        self.send = send
        self.server = None
        self.streams: dict[int, _Stream] = {}
        self._closed = False

    def dispatch(self, ident: int, name: str, args: tuple) -> None:
        method = getattr(self, "cmd_" + name, None)
        if method is None:
            self.send(("reply", ident, (False, f"unknown engine command {name!r}")))
        elif name in ("faults", "stream_open", "stream_feed", "stream_end"):
            self._answer(ident, method, args)  # quick, and in the order they came
        else:
            threading.Thread(target=self._answer, args=(ident, method, args),
                             name=f"engine-{name}", daemon=True).start()

    def _answer(self, ident: int, method, args: tuple) -> None:
        try:
            result = (True, method(*args))
        except Exception as exc:  # the parent shows it; the engine goes on
            result = (False, f"{type(exc).__name__}: {exc}")
        try:
            self.send(("reply", ident, result))
        except (OSError, ValueError):
            pass

    def _job_done(self, job_id: int, summary: Summary | None, error: str | None = None) -> None:
        self.tally.flush()
        try:
            if error is not None:
                self.send(("job", job_id, (False, error)))
            else:
                fields = ("received", "accepted", "duplicates", "rejected", "failed",
                          "pending", "cancelled", "seconds", "refused")
                self.send(("job", job_id, (True, {k: getattr(summary, k) for k in fields})))
        except (OSError, ValueError):
            pass

    def _in_thread(self, job_id: int, work: Callable[[], Summary], name: str) -> None:
        def run() -> None:
            try:
                summary = work()
            except Exception as exc:  # a storage error ends the job, not the engine
                self._job_done(job_id, None, f"{type(exc).__name__}: {exc}")
            else:
                self._job_done(job_id, summary)
        threading.Thread(target=run, name=name, daemon=True).start()

    def cmd_faults(self, specs: dict[str, str]) -> None:
        parsed = [parse_fault_spec(spec) for spec in specs.values()]  # all or none
        for point, config in parsed:
            self.faults.set(point, config)

    def cmd_ingest(self, job_id: int, source: str, data: bytes) -> int:
        tag = self.svc.new_import(source, IMPORT_KIND)
        self._in_thread(job_id, lambda: self.svc.ingest_stream(
            BytesIO(data), source, size=len(data), tag=tag), "engine-ingest")
        return tag.uid

    def cmd_stream_open(self, job_id: int, source: str) -> int:
        stream = self.streams[job_id] = _Stream(self.svc.new_import(source, IMPORT_KIND))
        return stream.tag.uid

    def cmd_stream_feed(self, job_id: int, data: bytes, line: int, offset: int) -> None:
        stream = self.streams[job_id]
        candidates = parse_chunk(Chunk(stream.tag.source, line, offset, data=data))
        items = prepare(candidates, utc_now(), self.svc.registry(), stream.tag)
        if items:
            stream.tickets.append(self.svc.submit_prepared(items))

    def cmd_stream_end(self, job_id: int) -> None:
        stream = self.streams.pop(job_id)

        def work() -> Summary:
            total = Summary()
            for ticket in stream.tickets:
                s = ticket.wait()
                total.received += s.received
                total.accepted += s.accepted
                total.duplicates += s.duplicates
                total.rejected += s.rejected
                total.failed += s.failed
            total.seconds = time.perf_counter() - stream.started
            total.pending = self.svc.outbox.count()
            return total
        self._in_thread(job_id, work, "engine-stream")

    def cmd_retry(self, job_id: int) -> None:
        self._in_thread(job_id, self.svc.retry_pending, "engine-retry")

    def retry_at_start(self) -> None:
        try:
            if self.svc.outbox.count():
                self.svc.retry_pending()
        except Exception:  # storage still failing: the runner's own retries go on
            pass

    def cmd_serve(self, port: int) -> int:
        from ..server import BackgroundServer  # starlette only when a scenario posts

        if self.server is None:
            self.server = BackgroundServer(self.svc, "127.0.0.1", port)
        return self.server.port

    def cmd_status(self) -> dict:
        counts = self.svc.counts()
        problem = self.svc.problem
        return {"events": counts["events"], "quarantined": counts["quarantined"],
                "pending": counts["pending"], "queue": self.svc.queue_depth,
                "problem": str(problem) if problem is not None else None}

    def cmd_figures(self) -> tuple[list, list]:
        return list(self.svc.stats()), list(self.svc.stats_from_events())

    def cmd_stats(self) -> list:
        return list(self.svc.stats())

    def cmd_imports(self) -> dict[int, int]:
        return {row.uid: row.accepted for row in self.svc.imports()}

    def cmd_registry(self):
        registry = self.svc.registry()
        return registry if registry else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.server is not None:
            self.server.stop()
        self.svc.close()


def config_is_off(spec: str) -> bool:
    """True when a ``--fault`` spec turns its point off."""
    return parse_fault_spec(spec)[1].mode is FaultMode.OFF
