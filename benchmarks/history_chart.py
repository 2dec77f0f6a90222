"""The client history chart on a large database: how long the read and the bulk build take,
how late a 5 ms heartbeat on the GUI thread fires while they run, how long a repaint at
1366x768 takes with every point drawn, and how long a live append takes. Also times the
drill-down's reads (a page, the exact sums) for the biggest client. Prints one JSON line.

    python benchmarks/history_chart.py --events 1000000 --clients 10 [--db PATH]

Without --db it generates the events (benchmarks/corpus.py) and ingests them first (the
database is kept for later runs when --db names a path that does not exist yet)."""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HEARTBEAT_MS = 5


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def prepare(db: Path, events: int, clients: int, shape: str = "feed") -> float:
    """Generate and ingest the corpus into ``db``; returns the ingest's seconds."""
    if __package__:
        from .corpus import generate
    else:  # run as a script: its own folder comes first on sys.path
        from corpus import generate
    from faultsim_desktop.core.service import IngestService

    corpus = db.with_suffix(".ndjson")
    generate(corpus, events, seed=1, clients=clients, shape=shape)
    with IngestService(db) as svc:
        started = time.perf_counter()
        svc.ingest_file(corpus)
        seconds = time.perf_counter() - started
    corpus.unlink()
    return seconds


def measure(db: Path, top: int) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from faultsim_desktop.core.client_events import EventFilter
    from faultsim_desktop.core.paging import PageQuery
    from faultsim_desktop.core.service import IngestService
    from faultsim_desktop.ui.bridge import EngineBridge
    from faultsim_desktop.ui.history_chart import HistoryDialog, build_lines

    app = QApplication.instance() or QApplication([])
    svc = IngestService(db)
    out: dict = {"events": svc.counts()["events"]}
    stats = svc.stats()
    by_client: dict[str, int] = {}
    for r in stats:
        by_client[r.client] = by_client.get(r.client, 0) + r.count
    chosen = sorted(by_client, key=lambda c: -by_client[c])[:top]
    out["clients"] = len(chosen)
    out["charted_events"] = sum(by_client[c] for c in chosen)
    biggest = chosen[0]

    started = time.perf_counter()
    svc.client_events_page(biggest, EventFilter(), PageQuery(limit=200))
    out["drill_first_page_s"] = round(time.perf_counter() - started, 4)
    started = time.perf_counter()
    sums = svc.client_events_summary(biggest)
    out["drill_sums_s"] = round(time.perf_counter() - started, 3)
    out["drill_client_events"] = sum(s.count for s in sums)
    started = time.perf_counter()
    svc.client_events_summary(biggest, EventFilter(text="zzz-no-such-text"))
    out["drill_text_filter_s"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    series = svc.client_history(chosen)
    out["history_read_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    build_lines(series)
    out["history_build_s"] = round(time.perf_counter() - started, 3)
    del series

    bridge = EngineBridge(svc)
    dialog = HistoryDialog(bridge)
    dialog.resize(1366, 768)
    lateness: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last[0]) * 1000 - HEARTBEAT_MS))
        last[0] = now
    heart = QTimer()
    heart.setInterval(HEARTBEAT_MS)
    heart.timeout.connect(beat)
    loop = QEventLoop()
    dialog.chart.updated.connect(loop.quit)
    started = time.perf_counter()
    last[0] = started
    heart.start()
    dialog.show_clients(chosen)
    loop.exec()
    out["chart_ready_s"] = round(time.perf_counter() - started, 3)
    heart.stop()
    out["heartbeat_late_p99_ms"] = round(_percentile(lateness, 0.99), 1)
    out["heartbeat_late_max_ms"] = round(max(lateness, default=0.0), 1)
    out["points"] = sum(d.count for d in dialog.chart.lines.values())
    out["lines"] = len(dialog.chart.lines)
    paints = []
    for _ in range(5):
        started = time.perf_counter()
        dialog.grab()
        paints.append(time.perf_counter() - started)
    out["repaint_ms_median"] = round(sorted(paints)[2] * 1000, 1)
    dialog.chart.currency_box.setCurrentIndex(0)  # every currency: every point drawn
    dialog.chart._show_currency()
    paints = []
    for _ in range(5):
        started = time.perf_counter()
        dialog.grab()
        paints.append(time.perf_counter() - started)
    out["repaint_all_currencies_ms_median"] = round(sorted(paints)[2] * 1000, 1)

    # a live append: 1,000 new events of the charted clients
    lines = "\n".join(json.dumps({"client": chosen[i % len(chosen)], "amount": "1.25",
                                  "currency": "EUR", "timestamp": "2100-01-01T00:00:00Z",
                                  "n": f"live-{time.time_ns()}-{i}"}) for i in range(1000))
    before = {k: d.curve for k, d in dialog.chart.lines.items()}
    drawn = out["points"]
    summary = svc.submit_text(lines, source="live").wait(120)
    out["live_accepted"] = summary.accepted
    started = time.perf_counter()
    bridge.refresh()
    while sum(d.count for d in dialog.chart.lines.values()) < drawn + summary.accepted \
            and time.perf_counter() - started < 120:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    out["live_append_s"] = round(time.perf_counter() - started, 3)
    out["points_after_append"] = sum(d.count for d in dialog.chart.lines.values())
    out["appended_not_rebuilt"] = all(dialog.chart.lines[k].curve is c for k, c in before.items())
    dialog.shutdown()  # its reader thread too
    bridge.shutdown()
    app.processEvents()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--shape", choices=("feed", "tidy"), default="feed",
                    help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    ap.add_argument("--db", type=Path, help="an existing database, or where to keep a new one")
    args = ap.parse_args()
    tmp = None
    db = args.db
    result: dict = {}
    if db is None:
        tmp = tempfile.TemporaryDirectory()
        db = Path(tmp.name) / "history.db"
    if not db.exists():
        result["ingest_s"] = round(prepare(db, args.events, args.clients, args.shape), 1)
    result.update(measure(db, args.clients))
    print(json.dumps(result))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
