"""``faultsim scenario run|list``: play a scenario headless against a real engine process and
judge the outcome; list the built-in ones."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ..scenario.builtins import builtin_scenarios, resolve
from ..scenario.model import RunSnapshot, Scenario, ScenarioError, Verdict, figures_json
from ..scenario.runner import ScenarioRun
from ..scenario.spec import load_scenario
from ..core.dburl import parse_db
from .common import EXIT_ERROR, EXIT_OK, EXIT_PENDING, EXIT_USAGE, clean, db_of, table

_EXIT = {Verdict.EXACT: EXIT_OK, Verdict.DIVERGED: EXIT_ERROR, Verdict.INCOMPLETE: EXIT_PENDING}
_VERDICT_TEXT = {
    Verdict.EXACT: "every expected event is stored exactly once; nothing is pending",
    Verdict.DIVERGED: "what is stored differs from what the inputs say",
    Verdict.INCOMPLETE: "events were still pending (or sends unfinished) at the limit",
}


def speed_option(text: str) -> float:
    try:
        speed = float(text.rstrip("xX"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed like 2 or 0.5") from None
    if not 0 < speed <= 1000:
        raise argparse.ArgumentTypeError("the speed must be above 0 and at most 1000")
    return speed


def add_parser(sub, common) -> None:
    p = sub.add_parser("scenario", parents=[common],
                       help="play a scripted failure scenario and judge it; list the built-ins")
    ssub = p.add_subparsers(dest="action", metavar="ACTION")
    r = ssub.add_parser("run",
                        help="play a scenario headless; exit 0 when the verdict is exact, 1 "
                             "diverged, 3 incomplete, 2 for a bad scenario file")
    # its own --db: a scenario plays in a temporary database unless told otherwise, never in
    # the user's default one
    r.add_argument("--db", type=parse_db, default=argparse.SUPPRESS, metavar="PATH|URL",
                   help="play in this SQLite file or postgresql:// database (default: a "
                        "temporary database of its own, removed afterwards)")
    r.add_argument("scenario", metavar="FILE|NAME",
                   help="a scenario file (TOML) or a built-in's name (faultsim scenario list)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--report", type=Path, default=None, metavar="FILE.html",
                   help="also write a self-contained HTML report")
    r.add_argument("--speed", type=speed_option, default=1.0, metavar="X",
                   help="play the timeline X times as fast (default 1)")
    q = ssub.add_parser("list", parents=[common], help="the built-in scenarios")
    q.add_argument("--json", action="store_true")


def run(args) -> int:
    if (args.action or "list") == "list":
        return _list(getattr(args, "json", False))
    try:
        path = resolve(args.scenario)
        scenario = load_scenario(path)
    except ScenarioError as exc:
        print(f"faultsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    render = _renderer() if args.report is not None else None
    db = db_of(args)
    if db is not None:
        return _play(scenario, db, args, render)
    with tempfile.TemporaryDirectory(prefix="faultsim-scenario-") as tmp:
        return _play(scenario, Path(tmp) / "scenario.db", args, render)


def _renderer():
    try:
        from ..scenario.report import render_report
    except ImportError:
        print("faultsim: the HTML report is not available in this build; running without it",
              file=sys.stderr)
        return None
    return render_report


def _play(scenario: Scenario, db, args, render) -> int:
    narrate = _Narrator() if sys.stderr.isatty() else None
    run = ScenarioRun(scenario, db, speed=args.speed,
                      on_change=narrate.changed if narrate is not None else None)
    if narrate is not None:
        narrate.run = run
    started = time.perf_counter()
    try:
        run.start()
        snap = run.wait()
    finally:
        run.close()  # Ctrl+C: the engine process is closed before the message
    seconds = time.perf_counter() - started
    if narrate is not None:
        narrate.show(snap)
    if render is not None:
        try:
            args.report.write_text(render(scenario, snap), encoding="utf-8")
        except OSError as exc:
            print(f"faultsim: cannot write the report {args.report}: {exc.strerror or exc}",
                  file=sys.stderr)
            return EXIT_ERROR
    if args.json:
        print(json.dumps(result_json(scenario, snap, seconds), ensure_ascii=False))
    else:
        _print_summary(scenario, snap, seconds, args.report if render is not None else None)
    if snap.error is not None:
        print(f"faultsim: {snap.error}", file=sys.stderr)
        return EXIT_ERROR
    return _EXIT[snap.verdict]


def result_json(scenario: Scenario, snap: RunSnapshot, seconds: float) -> dict:
    """What ``--json`` prints: one object."""
    return {
        "name": scenario.name,
        "file": str(scenario.source) if scenario.source is not None else None,
        "seed": scenario.seed,
        "verdict": snap.verdict.value if snap.verdict is not None else None,
        "expected": figures_json(snap.expected, snap.names),
        "stored": figures_json(snap.stored, snap.names),
        "differences": list(snap.differences),
        "counts": snap.counts,
        "seconds": round(seconds, 3),
        "timeline": [{"t_s": e.t_s, "text": e.text, "step": e.step} for e in snap.timeline],
        "fault_windows": [{"point": w.point, "spec": w.spec, "start_s": w.start_s,
                           "end_s": w.end_s} for w in snap.fault_windows],
        "error": snap.error,
    }


def _print_summary(scenario: Scenario, snap: RunSnapshot, seconds: float,
                   report: Path | None) -> None:
    where = f" ({scenario.source.name})" if scenario.source is not None else ""
    seed = f", seed {scenario.seed}" if scenario.seed is not None else ""
    print(f"scenario: {clean(scenario.name)}{where}{seed}")
    verdict = snap.verdict or Verdict.INCOMPLETE
    why = "the run could not go on (below)" if snap.error else _VERDICT_TEXT[verdict]
    print(f"verdict: {verdict.value.upper()}: {why} ({seconds:.1f} s)")
    c = snap.counts
    print(f"events: attempts {c.get('attempts', 0):,}; accepted {c.get('accepted', 0):,}, "
          f"duplicates {c.get('duplicates', 0):,}, rejected {c.get('rejected', 0):,}, "
          f"failed {c.get('failed', 0):,}; pending {c.get('pending', 0):,}")
    injected = ", ".join(f"{p} {n:,}" for p, n in c.get("injected", {}).items()) or "none"
    print(f"faults injected: {injected}; writer retries {c.get('retries', 0):,}; lost "
          f"acknowledgements caught {c.get('lost_acks', 0):,}; restarts "
          f"{c.get('restarts', 0):,}" + (f"; HTTP requests {c['requests']:,} "
                                          f"({c.get('http_retries', 0):,} retried)"
                                          if c.get("requests") else ""))
    keys = sorted(snap.expected.keys() | snap.stored.keys())
    if keys:
        print()
        rows = []
        for key in keys:
            want, got = snap.expected.get(key), snap.stored.get(key)
            rows.append([snap.names.get(key[0], key[0]), key[1] or "-",
                         f"{want.count:,}" if want else "-", str(want.total) if want else "-",
                         f"{got.count:,}" if got else "-", str(got.total) if got else "-"]
                        + (["" if want == got else "differs"] if snap.differences else []))
        table(["client", "currency", "expected", "total", "stored", "total"]
              + ([""] if snap.differences else []), rows, right={2, 3, 4, 5})
    if snap.differences:
        print()
        print("differences:")
        for d in snap.differences:
            print(f"  {clean(d)}")
    if report is not None:
        print(f"\nreport: {report}")


def _list(as_json: bool) -> int:
    rows = []
    for name, path in builtin_scenarios().items():
        try:
            s = load_scenario(path)
        except ScenarioError as exc:  # shipped broken: say so, list the rest
            rows.append({"name": name, "title": f"(cannot be read: {exc})", "file": str(path),
                         "steps": 0, "seconds": None})
            continue
        rows.append({"name": name, "title": s.name, "file": str(path), "steps": len(s.steps),
                     "seconds": s.duration_s})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        table(["name", "steps", "title"], [[r["name"], r["steps"], r["title"]] for r in rows],
              right={1})
    return EXIT_OK


class _Narrator:
    """The timeline on a terminal (standard error), as it happens."""

    def __init__(self):
        self.run: ScenarioRun | None = None
        self.shown = 0

    def changed(self) -> None:  # on the run's thread
        if self.run is not None:
            self.show(self.run.snapshot())

    def show(self, snap: RunSnapshot) -> None:
        for entry in snap.timeline[self.shown:]:
            sys.stderr.write(f"{entry.t_s:8.2f} s  {clean(entry.text)}\n")
        self.shown = max(self.shown, len(snap.timeline))
        sys.stderr.flush()
