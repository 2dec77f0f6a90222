"""Threads and processes racing on the same events and the same database count each once."""
import subprocess
import sys
import threading
from decimal import Decimal

from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService

EVENTS = ["{\"client\": \"c%d\", \"amount\": \"%d.10\", \"event_id\": \"e%d\"}" % (i % 5, i, i)
          for i in range(300)]
TRUTH = {f"c{k}": (60, sum(Decimal(f"{i}.10") for i in range(300) if i % 5 == k))
         for k in range(5)}


def state(svc):
    return {r.client: (r.count, r.total) for r in svc.stats()}


def test_threads_with_their_own_services_count_each_event_once(db_path):
    services = [IngestService(db_path, workers=0, batch_size=50,
                              retry=RetryPolicy(attempts=20, base_delay_s=0.005))
                for _ in range(4)]
    errors = []

    def run(svc, offset):
        try:
            order = EVENTS[offset:] + EVENTS[:offset]  # overlapping, in another order
            for i in range(0, len(order), 25):
                svc.submit_text("\n".join(order[i:i + 25])).wait(60)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, k * 70)) for k, s in enumerate(services)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals = [s.counters.snapshot() for s in services]
    for s in services:
        s.close()
    assert errors == []
    assert sum(t["accepted"] for t in totals) == 300
    assert sum(t["duplicates"] for t in totals) == 900
    assert sum(t["failed"] for t in totals) == 0
    with IngestService(db_path, workers=0) as svc:
        assert state(svc) == TRUTH and svc.stats() == svc.stats_from_events()


def test_processes_count_each_event_once(tmp_path):
    db = tmp_path / "shared.db"
    data = tmp_path / "events.ndjson"
    data.write_text("\n".join(EVENTS) + "\n")
    procs = [subprocess.Popen([sys.executable, "-m", "faultsim_desktop.cli", "ingest",
                               str(data), "--db", str(db), "--json", "--batch-size", "20",
                               "--retries", "20"], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    import json
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert sum(o["accepted"] for o in outs) == 300
    assert sum(o["duplicates"] for o in outs) == 600
    with IngestService(db, workers=0) as svc:
        assert state(svc) == TRUTH and svc.integrity_check() == "ok"


def test_another_process_closing_never_pulls_the_wal_from_under_us(tmp_path):
    # Regression: a plain open()/close() of the database file in this process dropped its
    # POSIX locks, so a second process closing its last connection deleted the WAL and this
    # process then failed with "disk I/O error".
    db = tmp_path / "shared.db"
    with IngestService(db, workers=0) as svc:
        svc.submit_text(EVENTS[0]).wait(30)
        assert len(svc.stats()) == 1  # a reader connection opened and closed here
        subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "stats", "--db", str(db),
                        "--json"], check=True, capture_output=True)
        assert (tmp_path / "shared.db-wal").exists()
        svc.submit_text(EVENTS[1]).wait(30)
        assert sum(r.count for r in svc.stats()) == 2
