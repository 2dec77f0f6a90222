"""The Scenarios window's run: one ``ScenarioRun`` at a time, made, commanded and ended
without blocking the GUI thread.

Making a run computes the expected truth from the inputs and starts the engine process;
ending one kills the engine and removes a temporary database. Both happen on short-lived
threads, and their results come back as queued signals tagged with a generation, so a run
made or ended for an earlier play is never taken for the live one. The runner's
``on_change`` (called on its own thread) becomes the queued ``changed`` signal.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from ..scenario.model import RunSnapshot, Scenario


class RunHost(QObject):
    changed = Signal()  # the live run has a new snapshot (the window coalesces these)
    started = Signal()  # the live run exists and has been given its first command
    failed = Signal(str)  # a run could not be made: why
    ended = Signal(object)  # a run of this play was let go: its last snapshot (or None)
    _made = Signal(object, int, object)  # run, generation, temporary folder
    _not_made = Signal(str, int)
    _let_go = Signal(object, int)
    _news = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run = None  # the live ScenarioRun
        self.tmp: Path | None = None  # the live run's temporary folder (None: the user's db)
        self.launching = False
        self._generation = 0
        self._workers: list[threading.Thread] = []
        self._made_runs: dict[int, tuple] = {}  # made, not yet taken by the GUI thread
        self._made_lock = threading.Lock()
        self._alive = True
        self._made.connect(self._on_made)
        self._not_made.connect(self._on_not_made)
        self._let_go.connect(self._on_let_go)
        self._news.connect(self._on_news)

    @property
    def live(self) -> bool:
        """A run is being made, plays, is paused or settles."""
        return self.launching or self.run is not None

    def launch(self, scenario: Scenario, db: Path | str | None, speed: float,
               first: str = "start") -> None:
        """Make a run of ``scenario`` on ``db`` (None: a temporary database of its own) and
        call its ``first`` command ("start" or "step") off the GUI thread."""
        self._generation += 1
        generation = self._generation
        tmp = Path(tempfile.mkdtemp(prefix="faultsim-scenario-")) if db is None else None
        target = tmp / "scenario.db" if tmp is not None else db
        self.launching = True

        def make() -> None:
            from ..scenario.runner import ScenarioRun

            run = None
            try:
                run = ScenarioRun(scenario, target, speed=speed, on_change=self._notify)
                getattr(run, first)()
            except Exception as exc:
                if run is not None:
                    _end_quietly(run)
                _remove(tmp)
                self._emit(self._not_made, str(exc) or type(exc).__name__, generation)
                return
            with self._made_lock:
                self._made_runs[generation] = (run, tmp)
            if not self._emit(self._made, run, generation, tmp):
                self._end_unclaimed()  # the window went away while the engine started
        self._start_worker(make, "scenario-start")

    def command(self, what: str) -> str | None:
        """pause, resume or step the live run; why it could not, or None."""
        try:
            getattr(self.run, what)()
        except Exception as exc:  # the runner says why (finished already, engine gone...)
            return str(exc) or type(exc).__name__
        return None

    def set_speed(self, speed: float) -> str | None:
        if self.run is None or self.run.speed == speed:
            return None
        try:
            self.run.speed = speed
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    def let_go(self) -> bool:
        """End the live run (or the one being made): its engine is killed and a temporary
        database removed, off the GUI thread; ``ended`` follows. False when none was live."""
        if not self.live:
            return False
        self._generation += 1  # a run still being made is ended as soon as it exists
        self.launching = False
        run, tmp = self.run, self.tmp
        self.run, self.tmp = None, None
        if run is not None:
            self._retire(run, tmp, self._generation)
        return True

    def shutdown(self) -> None:
        """End the live run and wait until every engine is gone. Idempotent."""
        self.let_go()
        self._alive = False
        for t in self._workers:
            t.join()
        self._workers = []
        self._end_unclaimed()

    def threads(self) -> list[threading.Thread]:
        return [t for t in self._workers if t.is_alive()]

    def _notify(self) -> None:
        """The runner's on_change (its own thread): a queued signal to the GUI thread."""
        self._emit(self._news)

    def _emit(self, signal, *args) -> bool:
        if not self._alive:
            return False
        try:
            signal.emit(*args)
        except RuntimeError:  # the C++ object is gone (interpreter shutting down)
            return False
        return True

    def _start_worker(self, target, name: str) -> None:
        self._workers = [t for t in self._workers if t.is_alive()]
        t = threading.Thread(target=target, name=name, daemon=True)
        self._workers.append(t)
        t.start()

    def _retire(self, run, tmp: Path | None, generation: int) -> None:
        def end() -> None:
            last = _end_quietly(run)
            _remove(tmp)
            self._emit(self._let_go, last, generation)
        self._start_worker(end, "scenario-end")

    def _end_unclaimed(self) -> None:
        """End the runs made that the GUI thread never took (the window closed meanwhile)."""
        with self._made_lock:
            left, self._made_runs = list(self._made_runs.values()), {}
        for run, tmp in left:
            _end_quietly(run)
            _remove(tmp)

    @Slot(object, int, object)
    def _on_made(self, run, generation: int, tmp) -> None:
        with self._made_lock:
            if self._made_runs.pop(generation, None) is None:
                return  # ended already by shutdown
        if not self._alive:
            _end_quietly(run)
            _remove(tmp)
        elif generation != self._generation:  # let go while it was being made
            self._retire(run, tmp, -1)
        else:
            self.launching = False
            self.run, self.tmp = run, tmp
            self.started.emit()

    @Slot(str, int)
    def _on_not_made(self, why: str, generation: int) -> None:
        if generation == self._generation:
            self.launching = False
            self.failed.emit(why)

    @Slot(object, int)
    def _on_let_go(self, last: RunSnapshot | None, generation: int) -> None:
        if generation == self._generation:
            self.ended.emit(last)

    @Slot()
    def _on_news(self) -> None:
        if self.run is not None and self._alive:  # news queued before the run ended: none
            self.changed.emit()


def _remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _end_quietly(run) -> RunSnapshot | None:
    """Stop a run and close it (its engine is killed); its last snapshot, when it gives one."""
    try:
        run.close()  # stops the run first, then waits for its thread and engine
    except Exception:  # a run that broke still has to let its engine go
        try:
            run.stop()
        except Exception:
            pass
    try:
        return run.snapshot()
    except Exception:
        return None


__all__ = ["RunHost"]
