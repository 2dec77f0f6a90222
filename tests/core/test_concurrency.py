"""Threads and processes racing on the same events and the same database count each once (the
races that do not depend on SQLite's file locks run on PostgreSQL too)."""
import io
import json
import random
import re
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.fingerprint import fingerprint
from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.parsing import decode_value
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService

from benchmarks.corpus import BAD_LINES, generate

EVENTS = ["{\"client\": \"c%d\", \"amount\": \"%d.10\", \"event_id\": \"e%d\"}" % (i % 5, i, i)
          for i in range(300)]
TRUTH = {f"c{k}": (60, sum(Decimal(f"{i}.10") for i in range(300) if i % 5 == k))
         for k in range(5)}


def state(svc):
    return {r.client: (r.count, r.total) for r in svc.stats()}


def test_threads_with_their_own_services_count_each_event_once(db):
    services = [IngestService(db, workers=0, batch_size=50,
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
    with IngestService(db, workers=0) as svc:
        assert state(svc) == TRUTH and svc.stats() == svc.stats_from_events()


def test_processes_count_each_event_once(db, tmp_path, processes):
    data = tmp_path / "events.ndjson"
    data.write_text("\n".join(EVENTS) + "\n")
    procs = [processes.start([sys.executable, "-m", "faultsim_desktop.cli", "ingest",
                              str(data), "--db", str(db), "--json", "--batch-size", "20",
                              "--retries", "20"], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
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




class _HeldWriter(FaultSwitch):
    """Holds its writer just before the transaction (where the latency point is asked)."""

    def __init__(self):
        super().__init__(0)
        self.holding, self.release = threading.Event(), threading.Event()

    def delay(self) -> float:
        self.holding.set()
        self.release.wait(30)
        return 0.0


def test_a_slow_drain_never_removes_an_event_that_failed_after_it_read_the_outbox(db):
    # Regression: outbox ids were plain rowids. A slow drain read event #1; a second drain
    # stored it and removed #1; the next failed event was given id #1 again, and the slow drain,
    # finishing, removed that event although it was never stored: it was lost.
    broken, held, once = FaultSwitch(0), _HeldWriter(), RetryPolicy(attempts=1)
    broken.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
    with IngestService(db, faults=broken, workers=0, retry=once) as failing, \
            IngestService(db, faults=held, workers=0, retry=once) as slow, \
            IngestService(db, workers=0, retry=once) as quick:
        assert failing.submit_text(EVENTS[0]).wait(30).failed == 1
        drained = {}
        t = threading.Thread(target=lambda: drained.update(slow=slow.retry_pending()))
        t.start()
        try:
            assert held.holding.wait(30)  # the slow drain has read the outbox
            assert quick.retry_pending().accepted == 1
            assert failing.submit_text(EVENTS[1]).wait(30).failed == 1
        finally:
            held.release.set()
            t.join()
        assert drained["slow"].duplicates == 1
        assert [p.raw for p in quick.pending()] == [EVENTS[1]]
        assert quick.retry_pending().accepted == 1
        assert state(quick) == {"c0": (1, Decimal("0.10")), "c1": (1, Decimal("1.10"))}



class _ReleaseOnFirstWait:
    """A retry policy whose first backoff is when the other program lets go of its lock."""

    attempts = 3

    def __init__(self, holder: sqlite3.Connection):
        self.holder, self.waits = holder, 0

    def delay(self, failed_attempt: int, rng=None) -> float:
        self.waits += 1
        if self.holder.in_transaction:
            self.holder.execute("ROLLBACK")
        return 0.0


def test_a_command_waits_out_a_lock_held_longer_than_the_busy_timeout(db_path):
    # Regression: commands (resolving a quarantine entry, reset) reported "locked" to the user
    # at the first busy timeout, where event writes wait and retry.
    with IngestService(db_path, workers=0, busy_timeout_ms=50) as svc:
        assert svc.submit_text(EVENTS[0]).wait(30).accepted == 1
        holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        try:
            holder.execute("BEGIN IMMEDIATE")
            svc.retry_policy = policy = _ReleaseOnFirstWait(holder)
            svc.reset()
        finally:
            holder.close()
        assert policy.waits == 1 and svc.stats() == [] and svc.counts()["events"] == 0
        assert svc.problem is None  # the window shows no stale "locked" banner


BUSY_MS = 40  # instead of 10 s: lock waits become real "database is locked" errors, often
# The faultsim command (it has no option for this), its connections given the timeout above.
_SHORT_BUSY_CLI = (
    "import sys\n"
    "from faultsim_desktop.core.storage import sqlite_schema as store\n"
    "_open = store._connect_once\n"
    f"store._connect_once = lambda p, s, b, w, *rest: _open(p, s, {BUSY_MS}, w, *rest)\n"
    "from faultsim_desktop.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n")
_PENDING_NOTE = re.compile(r"pending outbox: sent [\d,]+ again; [\d,]+ still pending")


def _render(event: dict, rng: random.Random) -> str:
    """The same event as another sender writes it: keys reordered, spacing and escaping varied."""
    items = list(event.items())
    rng.shuffle(items)
    return json.dumps(dict(items), ensure_ascii=rng.random() < 0.5,
                      separators=rng.choice([(",", ":"), (", ", ": "), (" ,", " :  ")]))


def _fp(event: dict) -> str:
    return fingerprint(decode_value(json.dumps(event)).obj).hex()


def _workload(tmp_path):
    """A messy corpus with its independent truth, plus for every event with an idempotency key
    a second event reusing the key with other content (a conflict: the first one stands)."""
    data = tmp_path / "corpus.ndjson"
    truth = generate(data, 1500, seed=23, clients=25)["truth"]
    lines = data.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines if line not in BAD_LINES]
    bad = [line for line in lines if line in BAD_LINES]
    # same client, amount and currency: whichever of a pair wins, the truth is the same
    pairs = [(e, dict(e, note="sent again, edited")) for e in events if "event_id" in e]
    return truth, events, pairs, bad


def _writer_lines(k: int, events: list[dict], bad: list[str]) -> list[str]:
    rng = random.Random(k)
    lines = [_render(e, rng) for e in events] + bad
    rng.shuffle(lines)
    return lines


def _stored(svc) -> list[dict]:
    buf = io.StringIO()
    svc.export_events(buf, "ndjson")
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_overlapping_writers_with_faults_lose_nothing_and_count_each_event_once(tmp_path,
                                                                               processes):
    truth, events, pairs, bad = _workload(tmp_path)
    everything = events + [variant for _, variant in pairs]
    assert len(pairs) >= 50 and len(bad) >= 20
    db = tmp_path / "shared.db"
    with IngestService(db, workers=0):  # created once, before the race
        pass

    procs = []
    for k in range(3):
        f = tmp_path / f"writer{k}.ndjson"
        f.write_text("\n".join(_writer_lines(100 + k, everything, bad)) + "\n", encoding="utf-8")
        procs.append(processes.start(
            [sys.executable, "-c", _SHORT_BUSY_CLI, "ingest", str(f), "--db", str(db), "--json",
             "--workers", "0", "--batch-size", "20", "--retries", "2", "--seed", str(k),
             "--fault", "mid_transaction:0.2", "--fault", "after_commit:0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

    records, errors = [], []
    records_lock = threading.Lock()

    def keep(batch):
        with records_lock:
            records.extend(batch)

    services = []
    for k in range(4):
        switch = FaultSwitch(k)
        switch.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.PROBABILITY, probability=0.05))
        switch.set(FaultPoint.MID_TRANSACTION, FaultConfig(FaultMode.PROBABILITY, probability=0.2))
        switch.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.PROBABILITY, probability=0.1))
        svc = IngestService(db, faults=switch, workers=0, batch_size=25, seed=k,
                            busy_timeout_ms=BUSY_MS,
                            retry=RetryPolicy(attempts=3, base_delay_s=0.002, cap_s=0.02))
        svc.subscribe(keep)
        services.append(svc)
    writing = threading.Event()
    writing.set()

    def write(svc, lines):
        try:
            for i in range(0, len(lines), 25):
                svc.submit_text("\n".join(lines[i:i + 25]), source="thread").wait(120)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    reads = [0]

    def read(svc):  # what the window does meanwhile: a reader must never meet a lock
        try:
            while writing.is_set():
                svc.stats(), svc.counts(), svc.recent_log(20), svc.pending(20)
                reads[0] += 1
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, _writer_lines(k, everything, bad)))
               for k, s in enumerate(services)]
    reader = threading.Thread(target=read, args=(services[0],))
    try:
        for t in threads + [reader]:
            t.start()
        for t in threads:
            t.join()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:  # a failure above still stops the reader and closes every service
        writing.clear()
        if reader.is_alive():
            reader.join()
        for s in services:
            s.close()

    assert errors == [] and reads[0] > 0
    for p, (out, err) in zip(procs, outs):
        assert p.returncode in (0, 3), err  # 3: events (maybe another writer's) still pending
        assert all(_PENDING_NOTE.fullmatch(line) for line in err.splitlines()), err
    received = {json.loads(out.splitlines()[-1])["received"] for out, _ in outs}
    assert len(received) == 1 and received.pop() >= len(everything) + len(bad)
    finals = [r for r in records if r.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE,
                                                  Outcome.REJECTED)]
    assert not any("locked" in (r.reason or "") for r in finals)
    assert any(r.outcome is Outcome.RETRYING and "locked" in r.reason for r in records), \
        "the short busy timeout should have made writes wait and retry"
    locked = {r.fingerprint.hex() for r in records if r.outcome is Outcome.FAILED
              and "locked" in r.reason and r.client is not None}  # bad input has no client

    # the faults are over: draining the shared outbox stores every event still pending
    drain = subprocess.run([sys.executable, "-c", _SHORT_BUSY_CLI, "pending", "retry",
                            "--db", str(db), "--json"], capture_output=True, text=True,
                           timeout=120)
    assert (drain.returncode, drain.stderr) == (0, "")
    assert json.loads(drain.stdout)["pending"] == 0
    with IngestService(db, workers=0) as svc:
        assert svc.retry_pending().received == 0 and svc.outbox.count() == 0
        got = {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}
        assert got == {k: (v[0], v[1]) for k, v in truth.items()}
        assert svc.stats() == svc.stats_from_events()
        assert svc.integrity_check() == "ok"
        stored = [e["fingerprint"] for e in _stored(svc)]
        codes = {q.code for q in svc.quarantine(None, limit=100_000)}
    assert len(stored) == len(set(stored)) == sum(v[0] for v in truth.values())
    stored = set(stored)
    paired = {_fp(e) for pair in pairs for e in pair}
    assert {_fp(e) for e in events} - paired <= stored
    winners = [(_fp(a) in stored, _fp(b) in stored) for a, b in pairs]
    assert all(a != b for a, b in winners)  # exactly one of each conflicting pair
    assert "idempotency_conflict" in codes
    losers = paired - stored
    assert locked <= stored | losers  # what failed on a lock was stored later, or lost a conflict
    accepted = [r.fingerprint for r in records if r.outcome is Outcome.ACCEPTED]
    assert len(accepted) == len(set(accepted))  # no event was acknowledged as new twice
