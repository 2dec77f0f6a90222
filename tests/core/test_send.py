"""``faultsim send`` and its client ``send_inputs``: events posted to a served engine in
batches from several connections, retried through every wire fault and database fault until
each batch has a final answer. The stored totals always equal a fault-free ingest of the same
inputs into a fresh database; what could not be sent is pending, never lost."""
import json
import subprocess
import sys
import threading
import time

import pytest

from faultsim_desktop.core.faults import WIRE_POINTS, FaultPoint, parse_fault_spec
from faultsim_desktop.sender import batches_of, send_inputs
from faultsim_desktop.server import BackgroundServer

from benchmarks.corpus import generate
from tests.support.serving import serving_url as serving

FAST = {"backoff": (0.002, 0.05)}  # the tests' sends retry at once and often
EVERY_FAULT = ["drop_response:0.2", "drop_request:0.2", "slow_response:0.2,20ms", "http_503:0.2",
               "mid_transaction:0.3", "after_commit:0.2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("send") / "corpus.ndjson"
    generate(path, 1_200, seed=41)
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    third = len(lines) // 3
    return {"all": [("corpus.ndjson", data)],
            "a": [("a.ndjson", b"".join(lines[:2 * third]))],  # a and b overlap in a third
            "b": [("b.ndjson", b"".join(lines[third:]))]}


@pytest.fixture
def reference(new_db, open_service, tmp_path):
    """Ingests inputs fault-free into a fresh database on the same backend: the truth (the
    service, and how many events its ingest rejected)."""
    def ingest(*inputs_lists):
        ref = open_service(new_db("reference"))
        rejected = 0
        for inputs in inputs_lists:
            for name, data in inputs:
                path = tmp_path / name
                path.write_bytes(data)
                rejected += ref.ingest_file(path).rejected
        return ref, rejected
    return ingest


def wait_until(condition, timeout: float = 60.0) -> bool:
    """Poll for a condition another thread makes true (no signal exists to wait on)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            return False
        tick.wait(0.01)
    return True


def accounted(s) -> bool:
    return s.accepted + s.duplicates + s.rejected + s.failed + s.pending == s.received


def test_a_send_stores_every_event_once_and_a_rerun_only_duplicates(service, corpus, reference):
    ref, rejected = reference(corpus["all"])
    with serving(service) as url:
        first = send_inputs(url, corpus["all"], batch=40, concurrency=3, seed=1)
        stored = service.stats()
        again = send_inputs(url, corpus["all"], batch=40, concurrency=3, seed=1)
    assert stored == ref.stats() and service.stats() == stored
    assert service.stats() == service.stats_from_events()
    n_batches = len(batches_of(corpus["all"], 40)[0])
    assert (first.requests, first.retries, first.pending, first.failed) == (n_batches, 0, 0, 0)
    assert accounted(first) and first.errors == []
    assert first.accepted == ref.counts()["events"]
    assert first.rejected == rejected > 0  # bad lines are not an error of the send
    # the same command again: each request's key says it ran; nothing is stored twice
    assert (again.accepted, again.pending, again.failed) == (0, 0, 0)
    assert again.duplicates == first.accepted + first.duplicates
    assert again.rejected == first.rejected
    assert service.counts() == ref.counts()


@pytest.mark.parametrize("spec", ["drop_response:0.4", "drop_request:0.4",
                                  "slow_response:0.3,2s", "http_503:0.4"])
def test_each_wire_fault_converges_exactly(service, corpus, reference, spec):
    ref, rejected = reference(corpus["all"])
    point = parse_fault_spec(spec)[0]
    with serving(service, spec) as url:
        # slow answers outlast the client's patience: it retries a request still running
        s = send_inputs(url, corpus["all"], batch=60, concurrency=4, seed=2, retries=200,
                        timeout=0.5 if point is FaultPoint.SLOW_RESPONSE else 30, **FAST)
    assert service.faults.injected_counts()[point] > 0
    assert s.retries > 0 or point is FaultPoint.SLOW_RESPONSE
    assert (s.pending, s.failed) == (0, 0) and accounted(s)
    assert s.rejected == rejected
    assert service.stats() == ref.stats()
    assert service.stats() == service.stats_from_events()
    assert service.counts()["events"] == ref.counts()["events"]


def test_concurrent_senders_converge_through_every_fault_at_once(service, corpus, reference):
    """Four senders (three connections each) over the same and overlapping inputs, with every
    wire fault and two database faults on: each event is stored exactly once."""
    ref, _ = reference(corpus["a"], corpus["b"])
    plans = [corpus["all"], corpus["a"], corpus["b"], corpus["a"] + corpus["b"]]
    summaries: list = [None] * len(plans)

    def sender(i: int) -> None:
        summaries[i] = send_inputs(url, plans[i], batch=25, concurrency=3, seed=i,
                                   retries=500, timeout=30, **FAST)

    with serving(service, *EVERY_FAULT) as url:
        threads = [threading.Thread(target=sender, args=(i,)) for i in range(len(plans))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        injected = service.faults.injected_counts()
        service.faults.clear()
        # every batch had a final answer: all is stored before any outbox retry
        assert service.stats() == ref.stats()
        assert service.stats() == service.stats_from_events()
        service.retry_pending()  # copies of events whose writes failed: duplicates now
    assert service.outbox.count() == 0
    assert service.stats() == ref.stats()
    assert service.counts()["events"] == ref.counts()["events"]
    assert all(injected[p] > 0 for p in WIRE_POINTS | {FaultPoint.MID_TRANSACTION,
                                                       FaultPoint.AFTER_COMMIT})
    for s in summaries:
        assert (s.pending, s.failed) == (0, 0) and accounted(s) and s.retries > 0


def test_a_request_out_of_retries_leaves_its_events_pending(service, corpus):
    with serving(service, "http_503:always") as url:
        s = send_inputs(url, corpus["a"], batch=100, concurrency=2, retries=2, **FAST)
    n_batches = len(batches_of(corpus["a"], 100)[0])
    assert (s.pending, s.accepted, s.duplicates, s.rejected) == (s.received, 0, 0, 0)
    assert (s.requests, s.retries) == (3 * n_batches, 2 * n_batches)
    assert len(s.errors) == n_batches and "no final answer after 3 attempts" in s.errors[0]
    assert "HTTP 503" in s.errors[0]
    assert service.counts() == {"events": 0, "quarantined": 0, "pending": 0}


def test_stop_ends_a_send_and_what_was_not_answered_is_pending(sqlite_service, corpus):
    service = sqlite_service
    stop = threading.Event()
    result = []
    with serving(service, "drop_request:always") as url:
        t = threading.Thread(target=lambda: result.append(send_inputs(
            url, corpus["all"], batch=100, concurrency=2, retries=10**6, stop=stop, **FAST)))
        t.start()
        assert wait_until(lambda: service.faults.injected_counts()[FaultPoint.DROP_REQUEST] >= 4)
        stop.set()
        t.join()
    [s] = result
    assert s.pending == s.received > 0 and s.retries >= 2
    assert service.counts()["events"] == 0


def test_a_batch_over_the_body_limit_is_split_and_a_huge_event_fails(sqlite_service):
    service = sqlite_service
    lines = [b'{"client": "c%d", "amount": "%d.25", "ts": %d}' % (i % 7, i, 1700000000 + i)
             for i in range(60)]
    huge = b'{"client": "big", "amount": "1", "note": "' + b"x" * 5000 + b'"}'
    with serving(service, max_body=2000) as url:
        s = send_inputs(url, [("many.ndjson", b"\n".join(lines)), ("huge.ndjson", huge)],
                        batch=50, **FAST)
    assert (s.accepted, s.failed, s.pending) == (60, 1, 0)
    assert s.requests > 3  # the first batch was split until each part fit
    assert any("huge.ndjson" in e and "body limit" in e for e in s.errors)
    assert service.counts()["events"] == 60


def test_progress_reports_each_finished_batch(sqlite_service, corpus):
    seen = []
    with serving(sqlite_service) as url:
        s = send_inputs(url, corpus["a"], batch=50, concurrency=3, progress=seen.append)
    assert len(seen) == len(batches_of(corpus["a"], 50)[0])
    done = [x.accepted + x.duplicates + x.rejected for x in seen]
    assert done == sorted(done) and done[-1] == s.received
    assert seen[-1].as_dict()["accepted"] == s.accepted


def test_inputs_of_every_form_are_sent_as_ingest_reads_them(service, reference):
    array = (b'[\n  {"client": "acme",\n   "amount": "1.10", "ts": 1700000000},\n'
             b'  {"client": "globex", "amount": 2, "ts": 1700000001}\n]\n')
    pretty = (b'{\n  "client": "initech",\n  "amount": "3.30",\n  "ts": 1700000002\n}\n'
              b'{\n  "client": "initech"\n  "amount": 9\n}\n'  # a broken value over 4 lines
              b'{"client": "acme", "amount": "4", "ts": 1700000003}\n')
    inputs = [("array.json", array), ("pretty.json", pretty)]
    ref, rejected = reference(inputs)
    with serving(service) as url:
        s = send_inputs(url, inputs, batch=10)
    assert (s.received, s.accepted, s.rejected) == (5, 4, 1) and rejected == 1
    assert service.stats() == ref.stats()
    assert service.counts() == ref.counts()


def _faultsim(*args):
    return subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_send_prints_the_summary_and_exits_as_ingest_does(sqlite_service, corpus, tmp_path):
    service = sqlite_service
    path = tmp_path / "a.ndjson"
    path.write_bytes(corpus["a"][0][1])
    with serving(service, "drop_response:0.3") as url:
        ok = _faultsim("send", url, path, "--batch", 30, "--concurrency", 3, "--retries", 100,
                       "--seed", 4, "--json")
        assert ok.returncode == 0, ok.stderr  # rejected lines are not an error of the send
        summary = json.loads(ok.stdout)
        assert set(summary) == {"received", "accepted", "duplicates", "rejected", "failed",
                                "pending", "requests", "retries", "seconds"}
        assert summary["rejected"] > 0 and summary["retries"] > 0
        assert summary["pending"] == summary["failed"] == 0
        assert sum(summary[k] for k in ("accepted", "duplicates", "rejected")) == \
            summary["received"]
        text = _faultsim("send", url, path)
        assert text.returncode == 0 and "accepted 0," in text.stdout and "requests" in text.stdout
        service.faults.set(*parse_fault_spec("http_503:always"))
        pending = _faultsim("send", url, path, "--retries", 1, "--json")
        assert pending.returncode == 3
        assert json.loads(pending.stdout)["pending"] == summary["received"]
        assert "no final answer" in pending.stderr and "Traceback" not in pending.stderr
    missing = _faultsim("send", url, tmp_path / "nope.ndjson")
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    not_http = _faultsim("send", "ftp://127.0.0.1/", path)
    assert not_http.returncode == 2 and "not an http:// or https:// address" in not_http.stderr


def test_cli_send_with_a_wrong_token_fails(sqlite_service, tmp_path):
    path = tmp_path / "one.ndjson"
    path.write_text('{"client": "acme", "amount": "1"}\n')
    with serving(sqlite_service, token="right") as url:
        wrong = _faultsim("send", url, path, "--token", "wrong")
        right = _faultsim("send", url, path, "--token", "right")
    assert wrong.returncode == 1 and "token" in wrong.stderr and "Traceback" not in wrong.stderr
    assert right.returncode == 0 and sqlite_service.counts()["events"] == 1


def test_broken_lines_ride_with_good_ones_and_are_quarantined(sqlite_service, reference):
    bad = [b'{"client": "x", "amount": 1', b"{'client': 'x', 'amount': 1}", b"not json"]
    good = [b'{"client": "acme", "amount": "%d", "ts": %d}' % (i, 1700000000 + i)
            for i in range(3)]
    inputs = [("mixed.ndjson", b"\n".join(good[:1] + bad * 3 + good[1:] + bad) + b"\n"),
              ("junk.ndjson", b"\n".join(bad) + b"\n")]
    # one event to a request: the broken lines still never make a body of their own
    assert all(any(e.startswith(b'{"client": "acme"') for e in b.events)
               for b in batches_of(inputs[:1], 1)[0])
    ref, rejected = reference(inputs[:1])
    with serving(sqlite_service) as url:
        s = send_inputs(url, inputs, batch=1)
    assert sqlite_service.counts() == ref.counts()  # the same quarantine as an ingest
    assert s.rejected == rejected + 3 and s.accepted == 3
    [error] = s.errors  # a file with no JSON in it is refused whole, as ingest refuses it
    assert error.startswith("junk.ndjson from line 1: not JSON") and "nothing" in error


def test_a_send_rides_through_a_server_restart(service, corpus, reference):
    """The server goes away mid-send (connections refused) and comes back on the same port:
    the send goes on where it was and every event is stored once."""
    ref, _ = reference(corpus["all"])
    service.faults.set(*parse_fault_spec("http_503:always"))  # holds every batch back
    first = BackgroundServer(service, port=0, retry_after_s=0)
    port, result = first.port, []
    sending = threading.Thread(target=lambda: result.append(send_inputs(
        first.url, corpus["all"], batch=50, concurrency=4, retries=10**6, **FAST)))
    sending.start()
    try:
        assert wait_until(lambda: service.faults.injected_counts()[FaultPoint.HTTP_503] >= 8)
        first.stop()  # from now on the sender's connections are refused
        service.faults.clear()
        again = BackgroundServer(service, port=port, retry_after_s=0)
        try:
            sending.join()
        finally:
            again.stop()
    finally:
        first.stop()
        sending.join()
    [s] = result
    assert (s.pending, s.failed) == (0, 0) and accounted(s) and s.retries >= 8
    assert service.stats() == ref.stats()
    assert service.counts()["events"] == ref.counts()["events"]
