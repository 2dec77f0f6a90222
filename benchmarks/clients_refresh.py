"""What one refresh of the totals costs the window's GUI thread with many clients: the clients
table's and the totals chart's ``set_stats``, and the paint that follows, while clients keep
arriving (each refresh adds a tenth of the rows) and once they all have (a refresh that moves
2,000 totals). Offscreen, the collector off as on the window's GUI thread while a file streams
in. Prints one JSON object, milliseconds per refresh (median and maximum of each phase).

    python benchmarks/clients_refresh.py --clients 30000      # about 60,000 client/currency rows
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
from decimal import Decimal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from faultsim_desktop.core.model import ClientTotal  # noqa: E402
from faultsim_desktop.ui.charts import TotalsChart  # noqa: E402
from faultsim_desktop.ui.clients import ClientsView  # noqa: E402

CURRENCIES = ("EUR", "USD", "GBP", None)


def snapshot(clients: int, seed: int) -> list[ClientTotal]:
    """A reader's snapshot: by client name, then currency; one to four currencies a client."""
    rng = random.Random(seed)
    rows = []
    for i in range(clients):
        for currency in CURRENCIES[:rng.randrange(1, 5)]:
            rows.append(ClientTotal(f"client-{i:06d}", currency, rng.randrange(1, 500),
                                    Decimal(rng.randrange(100, 10**8)) / 100,
                                    "2026-03-01T00:00:00", "2026-03-02T00:00:00"))
    return rows


def moved(rows: list[ClientTotal], n: int, rng: random.Random) -> list[ClientTotal]:
    rows = list(rows)
    for i in rng.sample(range(len(rows)), min(n, len(rows))):
        r = rows[i]
        rows[i] = r._replace(count=r.count + 1, total=r.total + Decimal("12.34"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steady", type=int, default=10, help="refreshes once every row exists")
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    table, chart = ClientsView(), TotalsChart()
    table.resize(700, 600)
    chart.resize(600, 500)
    table.show()
    chart.show()
    app.processEvents()
    full = snapshot(args.clients, args.seed)
    rng = random.Random(args.seed)
    keep = list(range(len(full)))
    rng.shuffle(keep)
    growing = [[full[i] for i in sorted(keep[:len(full) * k // 10])] for k in range(1, 11)]
    steady = [moved(full, 2_000, rng) for _ in range(args.steady)]
    phases: dict[str, dict[str, list[float]]] = {}
    gc.disable()
    for name, refreshes in (("clients arriving", growing), ("all clients in", steady)):
        times = phases.setdefault(name, {"table": [], "chart": [], "paint": []})
        for rows in refreshes:
            t0 = time.perf_counter()
            table.set_stats(rows)
            t1 = time.perf_counter()
            chart.set_stats(rows)
            t2 = time.perf_counter()
            app.processEvents()  # the paint, and the table's column slices
            t3 = time.perf_counter()
            times["table"].append((t1 - t0) * 1000)
            times["chart"].append((t2 - t1) * 1000)
            times["paint"].append((t3 - t2) * 1000)
    gc.enable()
    print(json.dumps({
        "clients": args.clients, "rows": len(full),
        "ms_per_refresh": {name: {part: {"median": round(statistics.median(v), 1),
                                         "max": round(max(v), 1)} for part, v in times.items()}
                           for name, times in phases.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
