"""What an open window costs while nothing happens: its process's CPU over a stretch of idle
time on an existing database, with how often it read the totals and asked the database whether
anything committed. Offscreen. Prints one JSON object.

    python benchmarks/corpus.py --events 300000 --clients 30000 --seed 2 --out c30k.ndjson
    faultsim ingest c30k.ndjson --db c30k.db
    python benchmarks/idle_window.py --db c30k.db --seconds 30
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True,
                    help="an existing database, a file or a PostgreSQL URL (it is only read)")
    ap.add_argument("--seconds", type=float, default=30.0, help="idle time measured")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds given to the window to show the database first")
    args = ap.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QTimer

    from faultsim_desktop.ui.app import create_window, make_application, make_settings

    app = make_application(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = create_window(args.db, make_settings(Path(tmp) / "s.ini"), workers=0,
                               restore=False)
        window.resize(1366, 768)
        window.show()
        svc = window.service
        reads, asks = [], []
        real_stats, real_version = svc.stats, getattr(svc, "data_version", None)

        def stats():
            started = time.perf_counter()
            try:
                return real_stats()
            finally:
                reads.append(time.perf_counter() - started)
        svc.stats = stats
        if real_version is not None:
            svc.data_version = lambda: asks.append(1) or real_version()

        def wait(seconds: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(int(seconds * 1000), loop.quit)
            loop.exec()

        wait(args.settle)
        rows = window.clients.model.rowCount()
        reads.clear()
        asks.clear()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        gui0 = time.thread_time()
        wait(args.seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        gui = time.thread_time() - gui0
        window.close()
        app.processEvents()
    print(json.dumps({
        "db": args.db, "rows": rows, "idle_s": round(wall, 2),
        "process_cpu_s": round(cpu, 3), "share_of_a_core": round(cpu / wall, 4),
        "gui_thread_cpu_s": round(gui, 3),
        "totals_reads": len(reads),
        "totals_read_ms_median": round(sorted(reads)[len(reads) // 2] * 1e3, 1) if reads else None,
        "version_checks": len(asks),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
