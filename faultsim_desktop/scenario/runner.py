"""Play a scenario against a real engine process and judge the outcome.

``ScenarioRun`` owns one thread that keeps the timeline: it runs each step when the run's clock
reaches it (sends each in a thread of their own, so a step that starts before the previous
send finished runs while it is still going), samples the engine a few times a second, and
after the last step waits for every event to reach a final outcome before it compares what
is stored with what the inputs say (``expected.expected_figures``).

Choices where the scenario format is silent:
- ``speed`` scales the timeline (the gaps between steps, and a generate step's rate); the
  limits on waiting (``settle``, a wait step's ``timeout``) are real seconds the engine gets,
  not counting time paused.
- Pause freezes the timeline: no step starts and a paced generate stops feeding; steps under
  way (a send, a wait and its retries) go on, and the settle phase waits for play.
- A wait step holds the timeline where it is; the steps after it run later by as long as it
  waited, and the timeline entries say when each really ran.
- A run on a database that already holds events is judged on everything it holds: events
  that are not the scenario's count against the verdict (the timeline says how many there
  were before the first step).
- A restarted engine gets the seed plus the number of restarts, so its faults do not replay
  the first engine's sequence.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..core.faults import FaultPoint, parse_fault_spec
from .clock import RunClock
from .engine import EngineFailed, EngineGone, EngineProcess, Job, Tally, config_is_off
from .expected import compare, expected_figures, stored_figures
from .model import (ClientKey, FaultWindow, Figure, RunSnapshot, RunState, Sample, Scenario,
                    ScenarioError, Step, StepKind, TimelineEntry, Verdict)
from .sends import EngineSend, HttpSend, Send, SendContext

TICK_S = 0.05  # the timeline's resolution
SAMPLE_EVERY_S = 0.25  # engine status and chart samples
RETRY_EVERY_S = 0.5  # while waiting or settling, the pending outbox is sent again this often

OnChange = Callable[[], None]


class ScenarioRun:
    """One play of ``scenario`` on ``db`` (an SQLite path or a PostgreSQL URL).

    Thread-safe: ``start``, ``pause``, ``resume``, ``step``, ``stop`` return at once;
    ``snapshot`` is cheap and never blocks on the engine. ``on_change`` is called on the
    run's thread after each new snapshot.
    """

    def __init__(self, scenario: Scenario, db: Path | str, *, speed: float = 1.0,
                 on_change: OnChange | None = None):
        if not speed > 0:
            raise ValueError(f"speed must be above 0, not {speed!r}")
        self.scenario = scenario
        self.db = db
        self.on_change = on_change
        # steps run in order of ``at``; ties in file order (the index counts in file order)
        self._order: list[Step] = sorted(scenario.steps, key=lambda s: (s.at_s, s.index))
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._clock = RunClock(speed)
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()  # ends sends and the timeline
        self._finished = threading.Event()
        self._paused = False
        self._began = False  # the engine is up and the truth computed: the clock may run
        self._steps_asked = 0  # step() calls not yet served
        self._stop_asked = False
        self._phase = RunState.READY
        self._next = 0  # position in ``_order`` of the next step
        self._shift = 0.0  # how far waits have pushed the remaining steps
        self._waiting: tuple[Step, float, float] | None = None  # (step, active deadline, start)
        # the engine
        self._engine: EngineProcess | None = None
        self._restarting = False
        self._engine_ready = threading.Condition(self._lock)
        self._specs: dict[str, str] = {}  # fault point -> spec in force
        self._port = 0  # the HTTP API's port, kept across restarts (0: not serving yet)
        self._tally = Tally()
        self._tally_lock = threading.Lock()
        self._sends: list[Send] = []
        self._retry_job: Job | None = None
        self._last_retry = float("-inf")
        self._restarts = 0
        self._resent = 0  # events sent again after a restart or from the pending outbox
        # what was found before the first step, and the last status read
        self._earlier_imports: set[int] = set()  # in the database before the run
        self._status: dict = {"events": 0, "pending": 0, "queue": 0, "quarantined": 0}
        self._lost_restart = 0
        # what the snapshot shows
        self._timeline: list[TimelineEntry] = []
        self._windows: list[FaultWindow] = []
        self._samples: list[Sample] = []
        self._expected: dict[ClientKey, Figure] = {}
        self._stored: dict[ClientKey, Figure] = {}
        self._names: dict[str, str] = {}
        self._differences: tuple[str, ...] = ()
        self._verdict: Verdict | None = None
        self._error: str | None = None
        self._send_context = SendContext(
            scenario, self._halt, self._note, self._position, self._current_engine,
            self._add_resent, lambda: f"http://127.0.0.1:{self._port}")
        self._snapshot = self._make_snapshot()

    # control, from any thread

    @property
    def speed(self) -> float:
        return self._clock.speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"speed must be above 0, not {value!r}")
        with self._lock:
            self._clock.set_speed(value)

    def start(self) -> None:
        """Play from the start (returns at once)."""
        with self._lock:
            if self._thread is not None:
                self.resume()
                return
            self._phase = RunState.PLAYING
            self._thread = threading.Thread(target=self._main, name="scenario-run",
                                            daemon=True)
            self._thread.start()

    def pause(self) -> None:
        with self._wake:
            if self._finished.is_set():
                return
            self._paused = True
            self._clock.hold()
            self._wake.notify_all()

    def resume(self) -> None:
        with self._wake:
            if self._thread is None:
                self._paused = False
                self.start()
                return
            self._paused = False
            if self._began:
                self._clock.run()
            self._wake.notify_all()

    def step(self) -> None:
        """Run the next step now, then stay paused (starts the run paused when needed)."""
        with self._wake:
            if self._finished.is_set():
                return
            self._paused = True
            self._clock.hold()
            self._steps_asked += 1
            if self._thread is None:
                self.start()
            self._wake.notify_all()

    def stop(self) -> None:
        """End the run now: sends stop, the engine closes; the verdict is ``incomplete``
        unless everything had already converged."""
        with self._wake:
            self._stop_asked = True
            self._halt.set()
            self._wake.notify_all()
            self._engine_ready.notify_all()

    def snapshot(self) -> RunSnapshot:
        return self._snapshot

    def wait(self, timeout: float | None = None) -> RunSnapshot:
        """The final snapshot, once the run has finished (TimeoutError after ``timeout``)."""
        if not self._finished.wait(timeout):
            raise TimeoutError("the scenario run has not finished")
        return self._snapshot

    def close(self) -> None:
        """Stop the run (if it is going) and wait until its engine has closed."""
        self.stop()
        thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            engine = self._engine
        if engine is not None:  # never started its thread's loop
            engine.close()

    # the run's thread

    def _main(self) -> None:
        try:
            self._begin()
            self._play()
        except ScenarioError as exc:
            self._error = str(exc)
        except (EngineFailed, EngineGone, TimeoutError, OSError) as exc:
            self._error = f"the run could not go on: {exc}"
        except Exception as exc:  # shown to the user; never a silent death of the thread
            self._error = f"the run could not go on: {type(exc).__name__}: {exc}"
        finally:
            self._end()

    def _begin(self) -> None:
        engine = self._new_engine()
        with self._lock:
            self._engine = engine
        status = engine.status()
        self._stored, names = stored_figures(engine.stats())
        self._earlier_imports = set(engine.imports_accepted())
        if status["events"]:
            n = status["events"]
            self._note(f"the database holds {n:,} event{'s' if n != 1 else ''} already: they "
                       "count in what is stored")
        self._expected, spelled = expected_figures(self.scenario, engine.registry())
        self._names = {**spelled, **names}  # the stored spelling is the one the window shows
        self._status = status
        with self._wake:
            self._began = True
            if not self._paused:
                self._clock.run()
        self._note("run started")

    def _new_engine(self) -> EngineProcess:
        seed = self.scenario.seed
        if seed is not None:
            seed += self._restarts
        return EngineProcess(self.db, seed=seed, retries=self.scenario.retries,
                             faults=self._specs, on_tally=self._on_tally)

    def _on_tally(self, delta: dict) -> None:
        with self._tally_lock:
            self._tally.add(delta)

    def _play(self) -> None:
        last_sample = float("-inf")
        settle_deadline: float | None = None
        while True:
            with self._wake:
                if self._stop_asked:
                    self._note("stopped by the user")
                    return
                asked = self._steps_asked
                self._steps_asked = 0
                paused = self._paused
            if asked and self._waiting is not None:
                step = self._waiting[0]
                self._waiting = None
                self._note(f"step {step.index}: wait skipped", step.index)
                asked -= 1
            for _ in range(asked):
                if self._next < len(self._order):
                    step = self._order[self._next]
                    with self._lock:
                        self._clock.jump(step.at_s + self._shift)
                    self._run_next()
            if not paused:
                self._run_due()
            self._check_engine()
            self._retry_done()
            now = time.monotonic()
            if now - last_sample >= SAMPLE_EVERY_S:
                last_sample = now
                self._sample(paused)
            if self._waiting is not None:  # a wait runs on while paused, as a send does
                self._keep_waiting()
            elif self._next >= len(self._order) and self._waiting is None and not paused:
                if settle_deadline is None:
                    with self._lock:
                        self._phase = RunState.SETTLING
                    settle_deadline = self._clock_active() + self.scenario.settle_s
                    self._note("every step has run; waiting for final outcomes")
                if self._converged():
                    self._note("converged: every event has a final outcome")
                    return
                if self._clock_active() >= settle_deadline:
                    self._note(f"settle limit reached ({self.scenario.settle_s:g} s) with "
                               f"{self._status['pending']:,} events pending")
                    return
                self._retry_now()
            self._publish()
            with self._wake:
                if not self._stop_asked and not self._steps_asked:
                    self._wake.wait(TICK_S)

    def _clock_active(self) -> float:
        with self._lock:
            return self._clock.active()

    def _position(self) -> float:
        with self._lock:
            return self._clock.position()

    def _run_due(self) -> None:
        while self._waiting is None and self._next < len(self._order):
            step = self._order[self._next]
            if step.at_s + self._shift > self._position():
                return
            self._run_next()

    def _run_next(self) -> None:
        step = self._order[self._next]
        self._next += 1
        kind = step.kind
        self._note(f"step {step.index}: {step.describe()}", step.index)
        if kind is StepKind.FAULT:
            self._set_faults(step)
        elif kind in (StepKind.SEND, StepKind.GENERATE):
            self._start_send(EngineSend(self._send_context, step))
        elif kind is StepKind.HTTP:
            self._serve()
            self._start_send(HttpSend(self._send_context, step))
        elif kind is StepKind.RESTART:
            self._restart()
        elif kind is StepKind.WAIT:
            self._waiting = (step, self._clock_active() + step.timeout_s, self._position())
            self._last_retry = float("-inf")
        elif kind is StepKind.RETRY:
            self._retry_now(force=True)
        self._publish()

    # steps

    def _set_faults(self, step: Step) -> None:
        t = round(self._position(), 3)
        changes: dict[str, str] = {}
        for spec in step.faults:
            if spec.strip().lower() == "off":
                changes.update({p.value: f"{p.value}:off" for p in FaultPoint})
                continue
            try:
                point, _config = parse_fault_spec(spec)
            except ValueError as exc:
                raise ScenarioError(str(exc), step=step.index, line=step.line) from None
            changes[point.value] = spec
        self._engine_call(lambda e: e.set_faults(changes))
        with self._lock:
            for point, spec in changes.items():
                self._windows = [replace(w, end_s=t) if w.point == point and w.end_s is None
                                 else w for w in self._windows]
                if config_is_off(spec):
                    self._specs.pop(point, None)
                else:
                    self._specs[point] = spec
                    self._windows.append(FaultWindow(point, spec, t))

    def _start_send(self, send: Send) -> None:
        with self._lock:
            self._sends.append(send)
        send.start()

    def _serve(self) -> None:
        if self._port:
            return
        self._port = self._engine_call(lambda e: e.serve(0))
        self._note(f"engine serving its HTTP API on 127.0.0.1:{self._port}")

    def _restart(self) -> None:
        with self._lock:
            old, self._engine = self._engine, None
            self._restarting = True
        t0 = time.monotonic()
        if old is not None:
            old.kill()
        self._restarts += 1
        self._note("engine killed (SIGKILL)")
        engine = self._new_engine()
        try:
            if self._port:
                _serve_again(engine, self._port)
        except BaseException:
            engine.kill()
            raise
        with self._engine_ready:
            self._engine = engine
            self._restarting = False
            self._engine_ready.notify_all()
        self._note(f"engine started again ({time.monotonic() - t0:.1f} s)")

    def _check_engine(self) -> None:
        with self._lock:
            engine = self._engine
        if engine is not None and not engine.alive:
            raise EngineGone(f"the engine process stopped unexpectedly (exit code "
                             f"{engine.process.exitcode})")

    def _engine_call(self, fn):
        with self._lock:
            engine = self._engine
        if engine is None:
            raise EngineGone("the engine is not running")
        return fn(engine)

    def _current_engine(self) -> EngineProcess | None:
        """The engine running now; while it restarts, the new one once it is up (None once
        the run is halted)."""
        with self._engine_ready:
            while not self._halt.is_set():
                engine = self._engine
                if engine is not None and engine.alive:
                    return engine
                self._engine_ready.wait(0.1)
            return None

    def _retry_now(self, force: bool = False) -> None:
        """Send the pending outbox again (at most every RETRY_EVERY_S unless ``force``)."""
        now = time.monotonic()
        if not force and (now - self._last_retry < RETRY_EVERY_S or
                          not self._status.get("pending")):
            return
        if not self._retry_done():
            return
        self._last_retry = now
        try:
            self._retry_job = self._engine_call(lambda e: e.retry_pending())
        except (EngineGone, EngineFailed):
            return  # a restart is under way; the new engine sends the outbox when it starts

    def _add_resent(self, n: int) -> None:
        with self._lock:
            self._resent += n

    def _retry_done(self) -> bool:
        """True when no retry of the outbox is under way (one that finished is counted)."""
        job = self._retry_job
        if job is None:
            return True
        if not job.done:
            return False
        self._retry_job = None
        try:
            summary = job.wait()
        except (EngineGone, EngineFailed):
            return True
        self._add_resent(summary.received)
        return True

    def _keep_waiting(self) -> None:
        step, deadline, started = self._waiting
        if self._converged():
            waited = self._position() - started
            self._shift += waited
            self._waiting = None
            self._note(f"step {step.index}: converged after {waited:.1f} s", step.index)
        elif self._clock_active() >= deadline:
            waited = self._position() - started
            self._shift += waited
            self._waiting = None
            self._note(f"step {step.index}: still {self._status['pending']:,} pending after "
                       f"{step.timeout_s:g} s; the timeline goes on", step.index)
        else:
            self._retry_now()

    def _converged(self) -> bool:
        """Every send has finished and nothing waits in the outbox or the writer's queue
        (read fresh, not from the last sample)."""
        with self._lock:
            sends = list(self._sends)
        if any(not s.done.is_set() for s in sends):
            return False
        if not self._retry_done():
            return False
        try:
            status = self._engine_call(lambda e: e.status())
        except (EngineGone, TimeoutError):
            return False
        self._status = status
        return status["pending"] == 0 and status["queue"] == 0

    def _sample(self, paused: bool) -> None:
        try:
            status = self._engine_call(lambda e: e.status())
            stored, names = stored_figures(self._engine_call(lambda e: e.stats()))
        except (EngineGone, EngineFailed, TimeoutError):
            return  # restarting: the next sample comes from the new engine
        self._status = status
        with self._tally_lock:
            outcomes = dict(self._tally.outcomes)
        with self._lock:
            self._stored = stored
            self._names.update(names)
            t = self._clock.position()
            if not paused and (not self._samples or t > self._samples[-1].t_s):
                self._samples.append(Sample(
                    round(t, 3), status["events"],
                    outcomes.get("accepted", 0), outcomes.get("duplicate", 0),
                    outcomes.get("rejected", 0), outcomes.get("failed", 0), status["pending"]))

    # the end

    def _end(self) -> None:
        self._halt.set()
        with self._engine_ready:
            self._engine_ready.notify_all()
        with self._lock:
            engine = self._engine
            sends = list(self._sends)
        converged = False
        differences: list[str] = []
        try:
            if engine is not None and engine.alive and self._error is None:
                converged = not self._stop_asked and self._next >= len(self._order) and \
                    self._converged()
                differences = self._judge(engine)
                self._sample(paused=False)
        except (EngineGone, EngineFailed, TimeoutError) as exc:
            self._error = f"the final figures could not be read: {exc}"
        finally:
            if engine is not None:  # first: a send still waiting on it then ends at once
                engine.close()
            for send in sends:
                send.join()
        unfinished = sum(not s.done.is_set() for s in sends)
        if not converged or self._error is not None or unfinished:
            verdict = Verdict.INCOMPLETE
        elif differences:
            verdict = Verdict.DIVERGED
        else:
            verdict = Verdict.EXACT
        with self._lock:
            self._clock.hold()
            self._differences = tuple(differences)
            self._verdict = verdict
            self._phase = RunState.FINISHED
        self._note(f"verdict: {verdict.value}")
        self._finished.set()
        self._publish()

    def _judge(self, engine: EngineProcess) -> list[str]:
        """Read the final figures and list every difference from the truth; the totals the
        store keeps must also agree with its events."""
        totals, from_events = engine.figures()
        self._status = engine.status()
        stored, names = stored_figures(totals)
        recounted, _ = stored_figures(from_events)
        accepted = engine.imports_accepted()
        with self._tally_lock:
            heard = {uid: c.get("accepted", 0) for uid, c in self._tally.per_import.items()}
        # committed, but the engine was killed before anyone heard of it
        self._lost_restart = sum(max(0, n - heard.get(uid, 0)) for uid, n in accepted.items()
                                 if uid not in self._earlier_imports)
        with self._lock:
            self._stored = stored
            self._names.update(names)
            shown = dict(self._names)
        differences = compare(self._expected, self._stored, shown)
        differences += [f"the stored totals disagree with the stored events: {d}"
                        for d in compare(recounted, stored, shown)]
        return differences

    # the snapshot

    def _note(self, text: str, step: int | None = None) -> None:
        with self._lock:
            self._timeline.append(TimelineEntry(round(self._clock.position(), 3), text, step))

    def _counts(self) -> dict:
        with self._tally_lock:
            t = self._tally
            outcomes = dict(t.outcomes)
            injected = dict(t.injected)
            retries, lost = t.retries, t.lost_acks
        for point in {w.point for w in self._windows}:
            injected.setdefault(point, 0)
        requests = http_retries = 0
        for send in self._sends:
            requests += send.requests
            http_retries += send.http_retries
        status = self._status
        finished = sum(outcomes.get(k, 0) for k in ("accepted", "duplicate", "rejected",
                                                     "failed"))
        return {"attempts": finished + self._lost_restart,
                "injected": dict(sorted(injected.items())),
                "retries": retries, "lost_acks": lost + self._lost_restart,
                "pending": status.get("pending", 0), "restarts": self._restarts,
                "requests": requests, "http_retries": http_retries, "resent": self._resent,
                "accepted": outcomes.get("accepted", 0),
                "duplicates": outcomes.get("duplicate", 0),
                "rejected": outcomes.get("rejected", 0), "failed": outcomes.get("failed", 0),
                "stored": status.get("events", 0), "quarantined": status.get("quarantined", 0)}

    def _make_snapshot(self) -> RunSnapshot:
        with self._lock:
            if self._phase is RunState.FINISHED:
                state = RunState.FINISHED
            elif self._paused and self._phase is not RunState.READY:
                state = RunState.PAUSED
            else:
                state = self._phase
            next_step = self._order[self._next].index if self._next < len(self._order) \
                else len(self._order) + 1
            return RunSnapshot(
                state=state, position_s=round(self._clock.position(), 3), next_step=next_step,
                timeline=tuple(self._timeline), fault_windows=tuple(self._windows),
                samples=tuple(self._samples), expected=dict(self._expected),
                stored=dict(self._stored), names=dict(self._names), counts=self._counts(),
                verdict=self._verdict, error=self._error, differences=self._differences)

    def _publish(self) -> None:
        self._snapshot = self._make_snapshot()
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # a broken listener must not stop the run
                pass


def _serve_again(engine: EngineProcess, port: int) -> None:
    """The new engine listens on the old one's port; the kernel frees it with the killed
    process, but allow it a moment."""
    deadline = time.monotonic() + 10
    while True:
        try:
            engine.serve(port)
            return
        except EngineFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

