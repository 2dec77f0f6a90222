"""faultsim serve: the HTTP API, through real sockets (uvicorn in a thread, and the real
``faultsim serve`` process). Every status code, exact money as strings, counted once."""
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from decimal import Decimal

import httpx
import pytest

from faultsim_desktop.core.body import BodyProblem, Verdict
from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.server import TokenRequired, check_bind

from benchmarks.corpus import generate
from tests.support.serving import serving

ACME = '{"client": "acme", "amount": "12.50", "currency": "USD", "ts": 1700000000}'


@pytest.fixture
def api(service):
    with serving(service) as client:
        yield client


def wait_until(condition, timeout: float = 30.0, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False): a wait for a
    condition where no signal exists to wait on (another thread's queue, another process)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            return False
        tick.wait(interval)
    return True


@contextmanager
def faultsim_serve(db, *options):
    """The real ``faultsim serve`` process on a free port: yields (process, url); killed if
    the test did not stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "faultsim_desktop.cli", "serve", "--db",
                             str(db), "--port", "0", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc, re.search(r"on (http://\S+)", proc.stdout.readline()).group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def totals(svc):
    return {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}


def test_first_answer_201_and_a_resend_200_with_the_same_events(api, service):
    first = api.post("/events", content=ACME, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    [event] = first.json()["events"]
    assert (event["client"], event["amount"], event["currency"]) == ("acme", "12.50", "USD")
    assert event["idempotency_key"] is None  # the header names the request, not the event
    retry = api.post("/events", content=ACME, headers={"Idempotency-Key": "order-1"})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.content == first.content  # the first answer, kept
    again = api.post("/events", content=ACME)  # the same event again, without a key
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert api.get("/events").json()["events"] == first.json()["events"]  # the stored row
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_a_batch_resent_in_another_form_answers_the_stored_events(api, service):
    ndjson = ('{"client": "a", "amount": "1.10"}\n'
              '{"client": "b", "amount": 2.5, "currency": "EUR"}\n')
    first = api.post("/events", content=ndjson.splitlines()[0])
    assert first.status_code == 201
    batch = api.post("/events", content=ndjson)  # one stored before, one new: 201
    assert batch.status_code == 201
    assert batch.json()["events"][0] == first.json()["events"][0]
    # the batch again, pretty-printed, numbers spelled otherwise: every event is a duplicate
    # and the body is the same, built from the stored rows
    pretty = ('[\n  {"amount": "1.10", "client": "a"},\n'
              '  {"currency": "EUR", "client": "b", "amount": 2.50}\n]')
    replay = api.post("/events", content=pretty)
    assert replay.status_code == 200 and replay.content == batch.content
    assert [e["amount"] for e in replay.json()["events"]] == ["1.10", "2.5"]
    assert api.get("/events").json()["events"] == batch.json()["events"]
    assert totals(service) == {("a", None): (1, Decimal("1.10")), ("b", "EUR"): (1, Decimal("2.5"))}


def test_an_events_own_key_reused_with_another_payload_is_409_and_the_first_stands(api,
                                                                                    service):
    keyed = ACME.replace("{", '{"event_id": "k", ', 1)
    first = api.post("/events", content=keyed)
    assert first.json()["events"][0]["idempotency_key"] == "k"
    other = keyed.replace("12.50", "99.00")
    r = api.post("/events", content=other)
    assert r.status_code == 409
    [item] = r.json()["events"]
    assert item["outcome"] == "rejected" and item["code"] == "idempotency_conflict"
    assert item["conflicts_with"] == first.json()["events"][0]["id"]
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50"))}
    # an event's keys are scoped per client, as in the engine: another client's is new
    globex = keyed.replace("acme", "globex")
    assert api.post("/events", content=globex).status_code == 201


def test_rejected_events_are_422_with_line_and_column_and_the_rest_is_stored(api, service):
    body = ('{"client": "a", "amount": "5.00"}\n'
            '{"client": "b", "amount": "twelve"}\n'
            '{"client": "c", "amount": 1,}\n')
    r = api.post("/events", content=body)
    assert r.status_code == 422
    answer = r.json()
    assert (answer["accepted"], answer["rejected"]) == (1, 2)
    ok, bad_amount, broken = answer["events"]
    assert ok["outcome"] == "accepted" and ok["amount"] == "5.00"
    assert (bad_amount["code"], bad_amount["line"]) == ("bad_amount", 2)
    assert broken["code"] == "invalid_json" and broken["reason"].startswith("line 3, column ")
    assert totals(service) == {("a", None): (1, Decimal("5.00"))}
    assert len(service.quarantine()) == 2  # kept for fixing, like any rejected input
    assert answer["error"] == "some events were rejected; the others were stored"
    # the message never claims that something was stored when nothing was
    alone = api.post("/events", content='{"client": "d", "amount": "ten"}')
    assert (alone.status_code, alone.json()["error"]) == (422, "the event was rejected")
    both = api.post("/events", content='[{"client": "d"}, {"amount": 1}]')
    assert (both.status_code, both.json()["error"]) == (422, "every event was rejected")


def test_bad_requests_are_400_and_leave_nothing_behind(api, service):
    r = api.post("/events", content=b"hello world")
    assert r.status_code == 400
    assert r.json()["problems"][0]["reason"] == "line 1, column 1: expected a value"
    assert api.post("/events", content=b"  \n").status_code == 400
    assert api.post("/events", content=b"\xff\xfe{\x00").status_code == 400  # UTF-16
    r = api.post("/events", content=ACME, headers={"Idempotency-Key": "caf\u00e9".encode()})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]
    assert service.counts() == {"events": 0, "quarantined": 0, "pending": 0}
    # an event's own key is its own, whatever the request's key says
    own = '{"client": "a", "amount": 1, "event_id": "e-1"}'
    r = api.post("/events", content=own, headers={"Idempotency-Key": "other"})
    assert r.status_code == 201 and r.json()["events"][0]["idempotency_key"] == "e-1"


def test_a_body_over_the_limit_is_413(sqlite_service):
    service = sqlite_service
    with serving(service, max_body=1024) as api:
        event = '{"client": "a", "amount": "1", "pad": "%s"}'
        at_limit = event % ("x" * (1024 - len(event % "")))
        assert api.post("/events", content=at_limit).status_code == 201
        r = api.post("/events", content=at_limit + " ")
        assert r.status_code == 413 and r.json()["max_body"] == 1024

        def chunks():  # no Content-Length: the limit holds while streaming
            yield b'{"client": "b", "amount": 1, "pad": "'
            for _ in range(8):
                yield b"y" * 200
            yield b'"}'
        assert api.post("/events", content=chunks()).status_code == 413
    assert service.counts()["events"] == 1


def test_failing_storage_is_503_with_retry_after_and_a_retry_counts_once(api, service):
    service.faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
    r = api.post("/events", content=ACME, headers={"Idempotency-Key": "p-1"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "0"
    assert r.json()["events"][0]["outcome"] == "failed"
    assert len(service.pending()) == 1  # nothing lost: it waits in the outbox
    service.faults.enabled = False
    # a 503 is not kept as the request's answer: the retry runs again
    retry = api.post("/events", content=ACME, headers={"Idempotency-Key": "p-1"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    drained = service.retry_pending()  # the outbox copy is the same event
    assert (drained.duplicates, drained.pending) == (1, 0)
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_a_full_queue_is_503_at_once_while_the_loop_keeps_answering(service):
    gate = threading.Event()
    holder = threading.Thread(target=service.in_writer, args=(lambda s: gate.wait(30),))
    holder.start()  # the writer now waits on the gate, inside a transaction
    with serving(service, max_queued_events=1) as api:
        answers = []
        first = threading.Thread(target=lambda: answers.append(api.post("/events", content=ACME)))
        first.start()
        assert wait_until(lambda: service.queue_depth >= 1, interval=0.002)
        r = api.post("/events", content=ACME.replace("acme", "initech"))
        assert r.status_code == 503 and r.headers["Retry-After"] == "0"
        health = api.get("/health")
        assert health.status_code == 200 and health.json()["queue_depth"] == 1
        assert answers == []  # the first request is still waiting for the writer
        gate.set()
        first.join()
        holder.join()
        assert answers[0].status_code == 201
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_stats_and_events_are_exact_strings_and_paged(api, service):
    lines = [f'{{"client": "{c}", "amount": "{a}", "ts": "2024-01-0{d}T00:00:00Z"}}'
             for c, a, d in [("ACME", "0.1", 1), ("acme", "0.2", 2), ("b", "1e-2", 3),
                             ("Acme", "12345678901234567890.123456789", 4), ("acme", "-0.3", 5)]]
    assert api.post("/events", content="\n".join(lines)).status_code == 201
    stats = api.get("/stats").json()["stats"]
    assert {(s["client"], s["count"], s["total"]) for s in stats} == {
        ("ACME", 4, "12345678901234567890.123456789"), ("b", 1, "0.01")}
    seen, url = [], "/events?client=acme&since=2024-01-02&limit=2"
    while url:
        page = api.get(url).json()
        seen += page["events"]
        url = page["next"]
    assert [e["amount"] for e in seen] == ["0.2", "12345678901234567890.123456789", "-0.3"]
    assert [e["id"] for e in seen] == sorted(e["id"] for e in seen)
    assert api.get("/events?limit=0").status_code == 400
    bad_since = api.get("/events?since=yesterday-ish")
    assert bad_since.status_code == 400 and "'yesterday-ish'" in bad_since.json()["error"]
    # a client is found by any spelling that groups with it, as the totals group it
    assert [e["amount"] for e in api.get("/events?client=%20AcMe%20").json()["events"]] == [
        "0.1", "0.2", "12345678901234567890.123456789", "-0.3"]


def test_the_service_says_what_a_body_became_without_any_server(service):
    """The server only turns these into status codes: the same verdicts from the engine."""
    assert service.read_body(b" \n", "t").problem is BodyProblem.EMPTY
    assert service.read_body(b"[]", "t").problem is BodyProblem.NO_EVENT
    junk = service.read_body(b"hello\nworld", "t")
    assert junk.problem is BodyProblem.NOT_JSON
    assert [(p["line"], p["column"]) for p in junk.problems] == [(1, 1), (2, 1)]
    assert service.counts() == {"events": 0, "quarantined": 0, "pending": 0}

    body = service.read_body(f"{ACME}\n{ACME.replace('acme', 'initech')}".encode(), "t")
    assert body.problem is None
    first = service.store_body(body.candidates, 60)
    assert first.verdict is Verdict.NEW and first.counts["accepted"] == 2
    again = service.store_body(service.read_body(ACME.encode(), "t").candidates, 60)
    assert again.verdict is Verdict.STORED_BEFORE
    assert again.events == first.events[:1]  # the same stored row, whichever request asks
    assert again.events[0]["amount"] == "12.50" and again.events[0]["client"] == "acme"

    mixed = service.read_body(b'{"client": "b", "amount": 1}\n{"client": "c", "amount": "x"}',
                              "t")
    result = service.store_body(mixed.candidates, 60)
    assert result.verdict is Verdict.REJECTED
    assert [(e["index"], e["outcome"]) for e in result.events] == [(0, "accepted"),
                                                                   (1, "rejected")]
    assert result.events[1]["line"] == 2 and result.events[1]["quarantine_id"] is not None


def test_a_token_is_required_when_configured(sqlite_service):
    service = sqlite_service
    with pytest.raises(TokenRequired):
        check_bind("0.0.0.0", None)
    check_bind("::1", None)
    with serving(service, token="s3cret") as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = api.get("/stats", headers=headers)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
            assert api.post("/events", content=ACME, headers=headers).status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        assert api.post("/events", content=ACME, headers=ok).status_code == 201
        assert api.get("/health", headers=ok).status_code == 200
    assert service.counts()["events"] == 1


def test_serve_refuses_a_public_address_without_a_token(db_path, capsys, monkeypatch):
    from faultsim_desktop.cli import main

    monkeypatch.delenv("FAULTSIM_TOKEN", raising=False)
    assert main(["serve", "--db", str(db_path), "--host", "0.0.0.0"]) == 2
    assert "needs a token" in capsys.readouterr().err
    assert not db_path.exists()


def _client(url, requests, stop_on, log, service):
    """A well-behaved client: retries 503s, 409s that say to retry (its key's first request
    is still running) and dropped connections until a final answer. Before a retry it waits
    for what the answer said was in the way to be gone: the crash switch off after a 503, the
    key's first request finished after a 409 (the server's Retry-After is 0 here)."""
    running = service.requests._running  # the keys whose first request is under way
    with httpx.Client(base_url=url, timeout=60) as c:
        for body, headers in requests:
            while True:
                try:
                    r = c.post("/events", content=body, headers=headers)
                except httpx.TransportError:
                    log.append("dropped")
                    continue
                log.append(r.status_code)
                if r.status_code == 503:
                    assert wait_until(lambda: not service.faults.enabled)
                elif "Retry-After" in r.headers:  # only a keyed request is told that
                    key = headers["Idempotency-Key"]
                    assert wait_until(lambda: key not in running)
                else:
                    break
            assert r.status_code in stop_on, r.text


def test_concurrent_clients_with_retries_and_the_crash_switch_count_each_event_once(
        tmp_path, service):
    corpus = generate(tmp_path / "corpus.ndjson", 900, seed=11, clients=40)
    lines = (tmp_path / "corpus.ndjson").read_text().splitlines()
    truth = {k: (n, total) for k, (n, total) in corpus["truth"].items()}
    # keyed single events, sent by every client with the same key: one event each
    keyed = [(f'{{"client": "keyed-{i % 3}", "amount": "{i}.0{i % 10}"}}', f"order-{i}")
             for i in range(40)]
    for i in range(40):
        n, total = truth.get((f"keyed-{i % 3}", None), (0, Decimal(0)))
        truth[(f"keyed-{i % 3}", None)] = (n + 1, total + Decimal(f"{i}.0{i % 10}"))

    def plan(seed):  # every line, rotated, in batches of 1 to 60 lines, and the keyed events
        rng = random.Random(seed)
        start = rng.randrange(len(lines))
        order = lines[start:] + lines[:start]
        reqs, i = [], 0
        while i < len(order):
            n = rng.randint(1, 60)
            reqs.append(("\n".join(order[i:i + n]), {}))
            i += n
        reqs += [(body, {"Idempotency-Key": key}) for body, key in keyed]
        rng.shuffle(reqs)
        return reqs

    faults = service.faults
    faults.set(FaultPoint.MID_TRANSACTION, FaultConfig(FaultMode.PROBABILITY, probability=0.5))
    faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.PROBABILITY, probability=0.3))
    faults.enabled = False
    done = threading.Event()

    def toggle():  # the crash switch, flipped on and off while the clients run
        while not done.wait(0.03):
            faults.enabled = not faults.enabled
        faults.enabled = False

    log: list = []
    with serving(service) as api:
        url = str(api.base_url)
        clients = [threading.Thread(target=_client,
                                    args=(url, plan(k), {200, 201, 422}, log, service))
                   for k in range(5)]
        toggler = threading.Thread(target=toggle)
        toggler.start()
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        done.set()
        toggler.join()
    assert log.count(503) > 0 and set(log) <= {200, 201, 409, 422, 503, "dropped"}
    service.retry_pending()  # what failed went to the outbox: the same events again
    assert service.pending() == []
    assert totals(service) == truth
    assert service.stats() == service.stats_from_events()
    assert service.counts()["events"] == sum(n for n, _ in truth.values())
    assert service.integrity_check() == "ok"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_faultsim_serve_process_serves_and_stops_cleanly(tmp_path, stop):
    db = tmp_path / "served.db"
    with faultsim_serve(db, "--token", "t0k") as (proc, url):
        auth = {"Authorization": "Bearer t0k"}
        with httpx.Client(base_url=url, timeout=60, headers=auth) as c:
            r = c.post("/events", content=f"[{ACME}, {ACME.replace('12.50', '0.05')}]",
                       headers={"Idempotency-Key": "cli-1"})
            assert r.status_code == 201
            assert c.get("/stats").json()["stats"][0]["total"] == "12.55"
            assert c.get("/health").json()["status"] == "ok"
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped; accepted 2" in err
    with IngestService(db, workers=0) as svc:
        assert totals(svc) == {("acme", "USD"): (2, Decimal("12.55"))}
        assert svc.integrity_check() == "ok"


def test_the_listening_socket_says_tcp():
    from faultsim_desktop.server import bind

    # asyncio turns Nagle off only on sockets created with IPPROTO_TCP; with proto 0 every
    # answer on a kept-alive connection waited for a delayed ACK (~40 ms instead of ~1 ms)
    with bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_a_database_moved_away_is_503_with_the_reason_never_a_crash(sqlite_service, db_path):
    with serving(sqlite_service) as api:
        _moved_away(api, sqlite_service, db_path)


def _moved_away(api, service, db_path):
    assert api.post("/events", content=ACME).status_code == 201
    db_path.rename(db_path.with_name("moved.db"))
    r = api.get("/stats")
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert "deleted or moved away" in r.json()["error"]
    r = api.post("/events", content=ACME.replace("acme", "initech"))
    assert r.status_code == 503 and r.json()["events"][0]["outcome"] == "failed"
    assert len(service.pending()) == 1  # kept for when a database is back


def test_faultsim_serve_stores_what_waits_in_the_outbox_without_a_restart_or_a_retry(tmp_path):
    db = tmp_path / "served.db"
    with faultsim_serve(db, "--fault", "before_write:next=2", "--retries", "1",
                        "--drain-every", "0.2") as (proc, url):
        with httpx.Client(base_url=url, timeout=60) as c:
            r = c.post("/events", content=ACME)  # both attempts fail: it waits in the outbox
            assert r.status_code == 503 and r.json()["events"][0]["outcome"] == "failed"
            # the client never sends it again; the server's drainer stores it once
            assert wait_until(lambda: c.get("/health").json()["pending"] == 0, interval=0.05)
            assert c.get("/stats").json()["stats"][0]["total"] == "12.50"
            assert c.post("/events", content=ACME).status_code == 200  # a late retry: once
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with IngestService(db, workers=0) as svc:
        assert totals(svc) == {("acme", "USD"): (1, Decimal("12.50"))}
