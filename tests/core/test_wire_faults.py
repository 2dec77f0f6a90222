"""The wire fault points of ``faultsim serve``, seen by a plain HTTP client: a dropped answer is
a network error after the events are committed, a dropped request stores nothing, a 503 comes
with Retry-After before anything runs, a slow answer keeps the client waiting. Only POST
/events is faulted; the writer never consults a wire point."""
import subprocess
import sys

import httpx
import pytest

from faultsim_desktop.core.faults import (DATABASE_POINTS, WIRE_POINTS, FaultConfig, FaultMode,
                                          FaultPoint, FaultSwitch, parse_fault_spec)
from tests.support.serving import serving

ACME = b'{"client": "acme", "amount": "12.50", "currency": "USD", "ts": 1700000000}'
GLOBEX = b'{"client": "Globex", "amount": "7", "currency": "EUR", "ts": 1700000001}'


def injected(service, point: FaultPoint) -> int:
    return service.faults.injected_counts()[point]


@pytest.mark.parametrize("text,expected", [
    ("slow_response:200ms", (FaultPoint.SLOW_RESPONSE, FaultMode.ALWAYS, 0.0, 0, 0.2)),
    ("slow_response:1.5s,p=0.25", (FaultPoint.SLOW_RESPONSE, FaultMode.PROBABILITY, 0.25, 0, 1.5)),
    ("slow_response:0.4", (FaultPoint.SLOW_RESPONSE, FaultMode.PROBABILITY, 0.4, 0, 0.2)),
    ("drop_response:0.3", (FaultPoint.DROP_RESPONSE, FaultMode.PROBABILITY, 0.3, 0, 0.05)),
    ("drop-request:next=2", (FaultPoint.DROP_REQUEST, FaultMode.NEXT_N, 0.0, 2, 0.05)),
    ("HTTP_503", (FaultPoint.HTTP_503, FaultMode.ALWAYS, 0.0, 0, 0.05)),
])
def test_wire_specs_parse(text, expected):
    point, config = parse_fault_spec(text)
    assert (point, config.mode, config.probability, config.remaining, config.delay_s) == expected


def test_the_points_split_into_wire_and_database():
    assert WIRE_POINTS == {FaultPoint.DROP_RESPONSE, FaultPoint.DROP_REQUEST,
                           FaultPoint.SLOW_RESPONSE, FaultPoint.HTTP_503}
    assert DATABASE_POINTS | WIRE_POINTS == set(FaultPoint)
    assert not DATABASE_POINTS & WIRE_POINTS
    with pytest.raises(ValueError, match="drop_response, drop_request, slow_response, http_503"):
        parse_fault_spec("drop_responce:0.5")


def test_drop_response_commits_then_cuts_the_connection(service):
    with serving(service, "drop_response:always") as api:
        with pytest.raises(httpx.TransportError):
            api.post("/events", content=ACME)
        # the request ran and committed: the event is stored once, and the client's retry
        # (with the fault gone) finds it there
        assert service.counts()["events"] == 1
        service.faults.clear()
        again = api.post("/events", content=ACME)
        assert again.status_code == 200
        assert [e["amount"] for e in again.json()["events"]] == ["12.50"]
    assert injected(service, FaultPoint.DROP_RESPONSE) == 1
    assert service.counts()["events"] == 1


def test_drop_response_cuts_a_keyed_answer_and_the_retry_replays_it(service):
    with serving(service, "drop_response:next=1") as api:
        with pytest.raises(httpx.TransportError):
            api.post("/events", content=ACME, headers={"Idempotency-Key": "k1"})
        retry = api.post("/events", content=ACME, headers={"Idempotency-Key": "k1"})
        assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert service.counts()["events"] == 1


def test_drop_request_cuts_before_the_body_is_read(service):
    with serving(service, "drop_request:next=2") as api:
        for _ in range(2):
            with pytest.raises(httpx.TransportError):
                api.post("/events", content=ACME + b"\n" + GLOBEX)
        assert service.counts() == {"events": 0, "quarantined": 0, "pending": 0}
        third = api.post("/events", content=ACME + b"\n" + GLOBEX)
        assert third.status_code == 201
        assert (third.headers["Events-Accepted"], third.headers["Events-Duplicates"]) == ("2", "0")
    assert injected(service, FaultPoint.DROP_REQUEST) == 2
    assert service.counts()["events"] == 2


def test_http_503_answers_retry_after_before_anything_runs(service):
    with serving(service, "http_503:always") as api:
        r = api.post("/events", content=ACME)
        assert r.status_code == 503 and r.headers["Retry-After"] == "0"
        assert "http_503" in r.json()["error"]
        assert service.counts() == {"events": 0, "quarantined": 0, "pending": 0}
        bad = api.post("/events", content=b"not json at all")  # nothing is even read
        assert bad.status_code == 503
    assert injected(service, FaultPoint.HTTP_503) == 2


def test_slow_response_holds_the_answer_after_the_commit(sqlite_service):
    service = sqlite_service
    with serving(service, "slow_response:3s,next=1") as api:
        # the client gives up before the held answer comes; the event is already stored
        with pytest.raises(httpx.ReadTimeout):
            api.post("/events", content=ACME, timeout=0.5)
        assert service.counts()["events"] == 1
        r = api.post("/events", content=ACME, timeout=60)  # the point no longer fires
        assert r.status_code == 200
    assert injected(service, FaultPoint.SLOW_RESPONSE) == 1


def test_reads_are_never_faulted(service):
    wire = [f"{p.value}:always" for p in WIRE_POINTS if p is not FaultPoint.SLOW_RESPONSE]
    with serving(service, *wire, "slow_response:30s") as api:
        health = api.get("/health").json()
        assert health["status"] == "ok" and health["crash_switch"]
        assert "drop_response always" in health["faults"]  # what a presenter can watch
        assert api.get("/stats").json() == {"stats": []}
        assert api.get("/events").json()["events"] == []
        assert api.post("/stats").status_code == 405  # a POST elsewhere is not faulted either
    assert all(injected(service, p) == 0 for p in WIRE_POINTS)


def test_wire_points_never_fail_a_write(service, tmp_path):
    for point in WIRE_POINTS:
        service.faults.set(point, FaultConfig(FaultMode.ALWAYS))
    path = tmp_path / "two.ndjson"
    path.write_bytes(ACME + b"\n" + GLOBEX + b"\n")
    s = service.ingest_file(path)
    assert (s.accepted, s.failed, s.pending) == (2, 0, 0)
    assert all(injected(service, p) == 0 for p in WIRE_POINTS)
    assert [r.outcome for r in service.recent_log(limit=10)].count("retrying") == 0


def test_the_crash_switch_gates_database_points_only():
    faults = FaultSwitch(seed=1)
    faults.set(FaultPoint.MID_TRANSACTION, FaultConfig(FaultMode.ALWAYS))
    faults.set(FaultPoint.DROP_RESPONSE, FaultConfig(FaultMode.PROBABILITY, probability=0.5))
    faults.enabled = False  # the window's "Simulate database crash" is off
    assert not faults.fires(FaultPoint.MID_TRANSACTION)
    assert any(faults.fires(FaultPoint.DROP_RESPONSE) for _ in range(50))
    assert faults.active
    assert faults.summary() == "drop_response p=0.5 (seed 1)"
    faults.enabled = True
    assert faults.summary() == "mid_transaction always, drop_response p=0.5 (seed 1)"
    faults.clear(WIRE_POINTS)
    assert faults.summary() == "mid_transaction always (seed 1)"


def test_a_seed_replays_the_same_wire_faults():
    def run():
        faults = FaultSwitch(seed=42)
        faults.set(*parse_fault_spec("drop_response:0.3"))
        faults.set(*parse_fault_spec("http_503:0.2"))
        return [(faults.fires(FaultPoint.HTTP_503), faults.fires(FaultPoint.DROP_RESPONSE))
                for _ in range(200)]
    first = run()
    assert first == run()
    assert any(a for a, _ in first) and any(b for _, b in first)


def test_an_import_records_the_wire_faults_in_force(service, tmp_path):
    service.faults.set(*parse_fault_spec("drop_response:0.25"))
    path = tmp_path / "one.ndjson"
    path.write_bytes(ACME)
    service.ingest_file(path)
    [row] = service.imports()
    assert "drop_response p=0.25" in row.faults


def test_ingest_refuses_a_wire_fault_it_could_never_fire(tmp_path):
    path = tmp_path / "one.ndjson"
    path.write_bytes(ACME)
    run = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(path),
                          "--db", str(tmp_path / "x.db"), "--fault", "drop_response:0.3"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "drop_response is a fault on the wire of faultsim serve" in run.stderr
    assert not (tmp_path / "x.db").exists()
