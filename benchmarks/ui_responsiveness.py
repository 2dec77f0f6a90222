"""How responsive the window stays while it ingests N messy events.

Opens the real window offscreen, ingests a generated file through it (File > Open, in the
background) and measures how late a 5 ms heartbeat timer on the GUI thread fires. The same file
also goes through the engine alone, in the same run, for comparison. Prints one JSON line.

    python benchmarks/ui_responsiveness.py --events 1000000 [--shape feed|tidy|mixed]
    python benchmarks/ui_responsiveness.py --undo     # 1,000,000 events, then undo that import
    python benchmarks/ui_responsiveness.py --diagnose 20   # also say what made beats late

With --diagnose MS, every beat later than MS is explained on standard error (one JSON line):
the GUI-thread calls that ran during it (the bridge's tick, the log, the charts, the collector,
with their sizes), the garbage collections in any thread, and the Python stack of every thread
at the moment the beat was MS overdue (faulthandler's watchdog, which needs no GIL to look).

The window's clock starts once the window is idle as a user finds it: with workers, its child
process for large files already waits with the database open (ui/bridge.py, StandbyIngest), as
the headless clock starts with the service open. --cold opens the file at once instead.

With --undo the window then takes the import back (Imports panel, Undo, confirmed) and the
heartbeat is measured again while the undo runs; the JSON adds ingest_s, undo_s and the undo's
max and p99 lateness.
"""
from __future__ import annotations

import argparse
import collections
import faulthandler
import functools
import gc
import json
import re
import resource
import threading
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HEARTBEAT_MS = 5

if __package__:
    from .corpus import generate as corpus_generate
else:  # run as a script: its own folder comes first on sys.path
    from corpus import generate as corpus_generate


def generate(path: Path, n: int, seed: int = 1) -> None:
    """Messy events: mixed field names, money strings, nesting, retries and a few bad lines."""
    rng = random.Random(seed)
    clients = [f"client-{i:03d}" for i in range(200)]
    shapes = (
        lambda c, a, i: {"client_id": c, "amount": a, "currency": "USD", "event_id": f"e{i}"},
        lambda c, a, i: {"clientId": c.upper(), "Amount": f"${a:,.2f}", "ts": 1714554000 + i},
        lambda c, a, i: {"customer": c, "total": f"{a:,.2f} €".replace(",", " ").replace(".", ","),
                         "id": f"x{i}"},
        lambda c, a, i: {"meta": {"source": c}, "cost": str(a), "ccy": "GBP", "n": i},
        lambda c, a, i: {"account": c, "charge": {"value": f"{a:.2f}", "currency": "CHF"},
                         "seq": i},
    )
    with open(path, "w", encoding="utf-8") as f:
        last = ""
        for i in range(n):
            r = rng.random()
            if r < 0.01:
                f.write('{"client": "broken", "amount": 1\n')  # a bad line
                continue
            if r < 0.03 and last:
                f.write(last)  # a retry of the previous event: a duplicate
                continue
            amount = round(rng.uniform(0.5, 5000), 2)
            event = shapes[i % len(shapes)](rng.choice(clients), amount, i)
            last = json.dumps(event, ensure_ascii=False) + "\n"
            f.write(last)


def headless(path: Path, db: Path, workers: int | None) -> tuple[float, int, float]:
    """The same file through the engine alone, as ``faultsim ingest`` runs it: in a process of
    its own whose collector is tuned for bulk work (cli/main.py), like the child process a
    window ingests a large file in. Measured in this process instead, the engine would run
    under the collector settings of a process that hosts a window, about a third slower."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--headless-only", str(path),
            "--headless-db", str(db)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    seconds, received = json.loads(done.stdout.splitlines()[-1])
    # the whole process and its workers, interpreter start and service opening included
    return seconds, received, _cpu_since(resource.RUSAGE_CHILDREN, before)


def _headless_only(path: Path, db: Path, workers: int | None) -> None:
    from faultsim_desktop.core.service import IngestService, tune_gc_for_bulk

    tune_gc_for_bulk()  # as `faultsim ingest` does (cli/main.py)
    with IngestService(db, workers=workers) as svc:
        started = time.perf_counter()
        summary = svc.ingest_file(path)
        print(json.dumps([time.perf_counter() - started, summary.received]), flush=True)


class Probe:
    """What the GUI thread and the collector were doing while a beat came late."""

    # GUI-thread calls worth timing: (module, class, method, what to record of the arguments)
    CALLS = (
        ("faultsim_desktop.ui.bridge", "EngineBridge", "_tick", None),
        ("faultsim_desktop.ui.bridge", "EngineBridge", "_on_task_done", lambda a: a[1]),
        ("faultsim_desktop.ui.bridge", "MainThreadGC", "check", None),
        ("faultsim_desktop.ui.log_view", "LogView", "append", lambda a: len(a[1])),
        ("faultsim_desktop.ui.log_view", "LogView", "_after_insert", None),
        ("faultsim_desktop.ui.charts", "RateChart", "add_counters", None),
        ("faultsim_desktop.ui.charts", "TotalsChart", "set_stats", lambda a: len(a[1])),
        ("faultsim_desktop.ui.status_reports", "StatusReports", "update_counters", None),
        ("faultsim_desktop.ui.status_reports", "StatusReports", "_on_file_progress", None),
    )

    def __init__(self, threshold_ms: float, dump_path: Path):
        import importlib

        self.threshold_ms = threshold_ms
        self.spans: collections.deque = collections.deque(maxlen=20_000)
        self.gcs: collections.deque = collections.deque(maxlen=20_000)
        self.late: list[dict] = []
        self.dump_path = dump_path
        self.dump = open(dump_path, "w")
        self._gc_started: dict[int, float] = {}
        # the GUI thread's own CPU time and run-queue wait (Linux): a late beat the thread
        # spent neither running nor waiting for a core was waiting for the GIL
        self._schedstat = Path("/proc/thread-self/schedstat")
        self._sched = self._read_sched()
        self.cpu_per_beat: list[float] = []  # the GUI thread's CPU between two beats, ms
        for module, cls_name, name, info in self.CALLS:
            cls = getattr(importlib.import_module(module), cls_name, None)
            if cls is not None and hasattr(cls, name):
                setattr(cls, name, self._timed(getattr(cls, name), f"{cls_name}.{name}", info))
        gc.callbacks.append(self._on_gc)

    def _timed(self, fn, label, info):
        spans = self.spans

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu = round((time.thread_time() - c0) * 1000, 1)
                spans.append((label, t0, time.perf_counter(), (info(args) if info else None, cpu)))
        return timed

    def _on_gc(self, phase: str, detail: dict) -> None:
        me = threading.get_ident()
        if phase == "start":
            self._gc_started[me] = time.perf_counter()
        elif me in self._gc_started:
            t0 = self._gc_started.pop(me)
            who = "gui" if me == threading.main_thread().ident else "other"
            self.gcs.append((f"gc{detail['generation']}-{who}", t0, time.perf_counter(),
                             detail.get("collected")))

    def _read_sched(self) -> tuple[float, float]:
        try:
            cpu, wait = self._schedstat.read_text().split()[:2]
        except (OSError, ValueError):
            return 0.0, 0.0
        return int(cpu) / 1e6, int(wait) / 1e6

    def restart(self) -> None:
        """From the first beat on: what ran before (building the window) is not counted."""
        self._sched = self._read_sched()
        self.cpu_per_beat = []

    def watch_paints(self, window) -> None:
        """Time the window's paints: every widget that waits for a paint is painted in one go
        when the window handles its UpdateRequest."""
        from PySide6.QtCore import QEvent, QObject

        spans = self.spans

        class Painter(QObject):
            def eventFilter(self, obj, event) -> bool:
                if obj is not window or event.type() != QEvent.Type.UpdateRequest:
                    return False
                t0, c0 = time.perf_counter(), time.thread_time()
                window.event(event)
                spans.append(("window.paint", t0, time.perf_counter(),
                              (None, round((time.thread_time() - c0) * 1000, 1))))
                return True
        self._painter = Painter()
        window.installEventFilter(self._painter)

    def arm(self) -> None:
        faulthandler.dump_traceback_later(self.threshold_ms / 1000, file=self.dump)

    def beat(self, since: float, now: float, late_ms: float) -> None:
        (cpu0, wait0), (cpu, wait) = self._sched, self._read_sched()
        self._sched = cpu, wait
        self.cpu_per_beat.append(cpu - cpu0)
        if late_ms < self.threshold_ms:
            return
        # each: what ran, its wall ms, (what it was given, its CPU ms) or what it collected
        during = [(label, round((t1 - t0) * 1000, 1), info)
                  for label, t0, t1, info in (*self.spans, *self.gcs)
                  if t1 >= since and t0 <= now and (t1 - t0) * 1000 >= 1.0]
        self.late.append({"late_ms": round(late_ms, 1), "at_s": round(now, 3),
                          "gui_cpu_ms": round(cpu - cpu0, 1), "runqueue_ms": round(wait - wait0, 1),
                          "during": during})

    def stop(self) -> dict:
        faulthandler.cancel_dump_traceback_later()
        gc.callbacks.remove(self._on_gc)
        self.dump.close()
        late = self.late
        cpu = sorted(self.cpu_per_beat)
        return {"late_beats": len(late),
                # what the GUI thread itself ran between two beats: the lateness an idle
                # machine would show, but for waits on the GIL
                "gui_cpu_between_beats_ms": {
                    "p99": round(cpu[int(len(cpu) * 0.99)], 1) if cpu else 0.0,
                    "max": round(cpu[-1], 1) if cpu else 0.0,
                    "total": round(sum(cpu), 1)},
                "late_ms_total": round(sum(d["late_ms"] for d in late), 1),
                "gui_cpu_ms_total": round(sum(d["gui_cpu_ms"] for d in late), 1),
                "runqueue_ms_total": round(sum(d["runqueue_ms"] for d in late), 1),
                "worst": sorted(
            self.late, key=lambda d: -d["late_ms"])[:15], "stacks": self.stacks()}

    def stacks(self) -> dict:
        """The innermost frames of each thread over every watchdog dump, most frequent first."""
        main = f"0x{threading.main_thread().ident:016x}"
        tops: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        thread = None
        frames: list[str] = []

        def close() -> None:
            if thread is not None and frames:
                tops["gui" if thread == main else "other"][" < ".join(frames[:3])] += 1
        for line in self.dump_path.read_text(errors="replace").splitlines():
            m = re.match(r"(?:Current thread|Thread) (0x[0-9a-f]+)", line)
            if m or line.startswith("Timeout"):
                close()
                thread, frames = (m.group(1) if m else None), []
                continue
            f = re.match(r'\s+File "(.*)", line (\d+) in (.*)', line)
            if f:
                frames.append(f"{Path(f.group(1)).name}:{f.group(2)}:{f.group(3)}")
        close()
        return {k: c.most_common(8) for k, c in tops.items()}


class Heartbeat:
    """A 5 ms timer on the GUI thread; how late each beat fires is how long the window froze."""

    def __init__(self, probe: Probe | None = None):
        from PySide6.QtCore import Qt, QTimer

        self.lateness: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self.beat)
        self.probe = probe

    def beat(self) -> None:
        now = time.perf_counter()
        late = max(0.0, (now - self.last) * 1000 - HEARTBEAT_MS)
        self.lateness.append(late)
        if self.probe is not None:
            self.probe.beat(self.last, now, late)
            self.probe.arm()
        self.last = now

    def start(self) -> None:
        self.lateness = []
        self.last = time.perf_counter()
        if self.probe is not None:
            self.probe.restart()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        if self.probe is not None:
            faulthandler.cancel_dump_traceback_later()
        stalls = sorted(self.lateness)
        p99 = stalls[min(len(stalls) - 1, int(len(stalls) * 0.99))] if stalls else 0.0
        return {"max_stall_ms": round(stalls[-1], 1) if stalls else 0.0,
                "p99_stall_ms": round(p99, 1), "heartbeats": len(stalls)}


def through_window(path: Path, db: Path, workers: int | None, undo: bool = False,
                   probe: Probe | None = None, cold: bool = False) -> dict:
    """Ingest ``path`` through the window (File > Open); with ``undo``, then take that import
    back through the Imports panel (Undo, confirmed), the heartbeat measured in each phase."""
    from PySide6.QtCore import QEventLoop

    from faultsim_desktop.ui.app import create_window, make_application, make_settings

    app = make_application()
    settings = make_settings(db.with_suffix(".ini"))
    window = create_window(db, settings, workers=workers, restore=False)
    window.show()
    if probe is not None:
        probe.watch_paints(window)
    app.processEvents()
    # The clock starts with the window as a user finds it a moment after it opens: with
    # workers, a child process waits with the database open (StandbyIngest), as the headless
    # clock starts with the service open. With ``cold``, at once: the file's child starts anew.
    deadline = time.monotonic() + 60
    while not cold and window.service.workers > 0 and not window.bridge.standby_ready():
        if time.monotonic() > deadline:
            raise SystemExit("the window kept no child process ready within 60 s")
        app.processEvents()
        time.sleep(0.01)
    heartbeat = Heartbeat(probe)
    loop = QEventLoop()
    result = {}

    def finished(summary) -> None:
        result["summary"] = summary
        result["seconds"] = time.perf_counter() - started
        loop.quit()

    window.bridge.filesFinished.connect(finished)
    window.bridge.taskFailed.connect(lambda what, msg: (result.setdefault("error", msg), loop.quit()))
    heartbeat.start()
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    gui = time.thread_time()  # this is the GUI thread
    started = time.perf_counter()
    window.ingest_files([str(path)])
    loop.exec()
    out = heartbeat.stop()
    if "error" not in result:
        out.update(seconds=result["seconds"], received=result["summary"].received,
                   window_cpu_s=_cpu_since(resource.RUSAGE_SELF, own),
                   gui_thread_cpu_s=round(time.thread_time() - gui, 2),
                   child_cpu_s=_cpu_since(resource.RUSAGE_CHILDREN, children))
    if undo and "error" not in result:
        panel = window.imports_panel
        window.docks["imports"].raise_()
        row = window.service.imports()[-1]

        def undone(_row, res) -> None:
            result["undo"] = res
            result["undo_seconds"] = time.perf_counter() - started
            loop.quit()

        def refused(_row, message) -> None:
            result["error"] = message
            loop.quit()
        panel.undoFinished.connect(undone)
        panel.undoFailed.connect(refused)
        while panel.model.row_of(row.id) < 0 or panel.model.status(
                panel.model.row(panel.model.row_of(row.id))) != "done":
            app.processEvents()  # the panel shows the import done: the user can undo it
            time.sleep(0.01)
        panel.request_undo(row)
        if panel.confirm_button is None:
            result["error"] = f"the panel refused: {window.statusBar().currentMessage()}"
        else:
            heartbeat.start()
            started = time.perf_counter()
            panel.confirm_button.click()  # the user confirms: the undo starts
            loop.exec()
        phase = heartbeat.stop()
        if "undo" in result:
            res = result["undo"]
            out["undo"] = {**phase, "seconds": result["undo_seconds"], "removed": res.removed,
                           "accepted_before": row.accepted}
    # let the last outcomes reach the log and the charts before closing
    window.close()
    app.processEvents()
    if "error" in result:
        raise SystemExit(f"ingest or undo failed: {result['error']}")
    return out


def _cpu_since(who: int, before) -> float:
    """User and system CPU seconds of ``who`` since ``before`` (a getrusage result); for
    RUSAGE_CHILDREN, of the children waited for meanwhile (the window's child ingest and, through
    it, its workers)."""
    now = resource.getrusage(who)
    return round(now.ru_utime - before.ru_utime + now.ru_stime - before.ru_stime, 2)


def _engine() -> str:
    from faultsim_desktop import speedups

    return speedups.summary()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=None,
                   help="default 200,000; 1,000,000 with --undo")
    p.add_argument("--shape", choices=("feed", "tidy", "mixed"), default="feed",
                   help="feed or tidy (benchmarks/corpus.py), or mixed: this script's own mix, "
                        "the shape of its figures before the feed shape")
    p.add_argument("--undo", action="store_true",
                   help="then undo that import through the Imports panel, heartbeat measured")
    p.add_argument("--workers", type=int, default=None,
                   help="parsing processes (default: one per core)")
    p.add_argument("--corpus", type=Path, default=None,
                   help="ingest this NDJSON file instead of generating one (--events and "
                        "--shape then only label the figures)")
    p.add_argument("--keep", action="store_true", help="keep the temporary files")
    p.add_argument("--cold", action="store_true",
                   help="open the file as soon as the window shows, before its child process "
                        "kept ready has started (the file's child then starts anew)")
    p.add_argument("--diagnose", type=float, default=None, metavar="MS",
                   help="explain every beat later than MS on standard error")
    p.add_argument("--headless-only", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--headless-db", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.headless_only is not None:
        _headless_only(args.headless_only, args.headless_db, args.workers)
        return 0
    if args.events is None:
        args.events = 1_000_000 if args.undo else 200_000
    tmp = Path(tempfile.mkdtemp(prefix="faultsim-bench-"))
    try:
        data = tmp / "events.ndjson"
        if args.corpus is not None:
            data = args.corpus
        elif args.shape == "mixed":
            generate(data, args.events)
        else:
            corpus_generate(data, args.events, shape=args.shape)
        h_seconds, h_received, h_cpu = headless(data, tmp / "headless.db", args.workers)
        probe = Probe(args.diagnose, tmp / "stacks.txt") if args.diagnose is not None else None
        w = through_window(data, tmp / "window.db", args.workers, undo=args.undo, probe=probe,
                           cold=args.cold)
        if probe is not None:
            print(json.dumps(probe.stop()), file=sys.stderr, flush=True)
        out = {
            "events": h_received if args.corpus is not None else args.events,
            "shape": args.shape,
            "file_mb": round(data.stat().st_size / 1e6, 1),
            "max_stall_ms": w["max_stall_ms"],
            "p99_stall_ms": w["p99_stall_ms"],
            "events_per_s": round(w["received"] / w["seconds"]),
            "headless_events_per_s": round(h_received / h_seconds),
            "ratio": round((w["received"] / w["seconds"]) / (h_received / h_seconds), 3),
            "heartbeats": w["heartbeats"],
            "window_cpu_s": w["window_cpu_s"],
            "gui_thread_cpu_s": w["gui_thread_cpu_s"],
            "child_cpu_s": w["child_cpu_s"],
            "headless_cpu_s": h_cpu,
            "engine": _engine(),
            "start": "cold" if args.cold else "child kept ready",
        }
        if args.undo:
            u = w["undo"]
            out.update(ingest_s=round(w["seconds"], 2), headless_ingest_s=round(h_seconds, 2),
                       undo_s=round(u["seconds"], 2), undo_removed=u["removed"],
                       undo_max_stall_ms=u["max_stall_ms"], undo_p99_stall_ms=u["p99_stall_ms"],
                       undo_heartbeats=u["heartbeats"])
        print(json.dumps(out), flush=True)
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
