"""How responsive the window stays while it ingests N messy events.

Opens the real window offscreen, ingests a generated file through it (File > Open, in the
background) and measures how late a 5 ms heartbeat timer on the GUI thread fires. The same file
also goes through the engine alone, in the same run, for comparison. Prints one JSON line.

    python benchmarks/ui_responsiveness.py --events 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HEARTBEAT_MS = 5


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


def headless(path: Path, db: Path, workers: int | None) -> tuple[float, int]:
    from faultsim_desktop.core.service import IngestService

    with IngestService(db, workers=workers) as svc:
        started = time.perf_counter()
        summary = svc.ingest_file(path)
        return time.perf_counter() - started, summary.received


def through_window(path: Path, db: Path, workers: int | None) -> dict:
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    from faultsim_desktop.ui.app import create_window, make_application, make_settings

    app = make_application()
    settings = make_settings(db.with_suffix(".ini"))
    window = create_window(db, settings, workers=workers, restore=False)
    window.show()
    app.processEvents()

    lateness: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last[0]) * 1000 - HEARTBEAT_MS))
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    loop = QEventLoop()
    result = {}

    def finished(summary) -> None:
        result["summary"] = summary
        result["seconds"] = time.perf_counter() - started
        loop.quit()

    window.bridge.filesFinished.connect(finished)
    window.bridge.taskFailed.connect(lambda what, msg: (result.setdefault("error", msg), loop.quit()))
    heartbeat.start()
    last[0] = started = time.perf_counter()
    window.ingest_files([str(path)])
    loop.exec()
    heartbeat.stop()
    # let the last outcomes reach the log and the charts before closing
    window.close()
    app.processEvents()
    if "error" in result:
        raise SystemExit(f"ingest failed: {result['error']}")
    stalls = sorted(lateness)
    p99 = stalls[min(len(stalls) - 1, int(len(stalls) * 0.99))] if stalls else 0.0
    return {"seconds": result["seconds"], "received": result["summary"].received,
            "max_stall_ms": round(stalls[-1], 1) if stalls else 0.0,
            "p99_stall_ms": round(p99, 1), "heartbeats": len(stalls)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--workers", type=int, default=None,
                   help="parsing processes (default: one per core)")
    p.add_argument("--keep", action="store_true", help="keep the temporary files")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="faultsim-bench-"))
    try:
        data = tmp / "events.ndjson"
        generate(data, args.events)
        h_seconds, h_received = headless(data, tmp / "headless.db", args.workers)
        w = through_window(data, tmp / "window.db", args.workers)
        out = {
            "events": args.events,
            "file_mb": round(data.stat().st_size / 1e6, 1),
            "max_stall_ms": w["max_stall_ms"],
            "p99_stall_ms": w["p99_stall_ms"],
            "events_per_s": round(w["received"] / w["seconds"]),
            "headless_events_per_s": round(h_received / h_seconds),
            "ratio": round((w["received"] / w["seconds"]) / (h_received / h_seconds), 3),
            "heartbeats": w["heartbeats"],
        }
        print(json.dumps(out))
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
