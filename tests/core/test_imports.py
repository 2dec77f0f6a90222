"""Imports: every file, paste, HTTP request and resubmit is one, with its kind, source, counts
and the fault settings in force; ``faultsim imports list|show|undo``; and undo cases written
out by hand, with the totals and per-import counts a user sees afterwards."""
from __future__ import annotations

import json
import queue
import re
import threading
import time
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultsim_desktop.cli import main
from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.model import StoredEvent
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import ImportBusy
from faultsim_desktop.server import BackgroundServer

NO_CLIENT = '{"amount": "5"}'
LIST_KEYS = {"id", "source", "started_at", "received", "accepted", "duplicates", "rejected",
             "failed", "pending", "undone"}


def ev(client: str, amount: str, key: str | None = None) -> str:
    d = {"client": client, "amount": amount}
    if key is not None:
        d["idempotency_key"] = key
    return json.dumps(d)


def paste(svc, *lines: str, source: str = "pasted"):
    return svc.submit_text("\n".join(lines), source=source).wait(60)


def totals(svc) -> dict:
    """Each client's total as the window shows it, checked against the events themselves."""
    shown = {(t.client, t.currency): (t.count, t.total) for t in svc.stats()}
    assert shown == {(t.client, t.currency): (t.count, t.total)
                     for t in svc.stats_from_events()}
    return shown


def counts(svc) -> dict:
    """Each import's (accepted, duplicates, rejected, pending) and whether it is undone."""
    return {r.id: (r.accepted, r.duplicates, r.rejected, r.pending, r.undone_at is not None)
            for r in svc.imports()}


def events(svc) -> list[StoredEvent]:
    return [StoredEvent._make(row) for row in svc.events_page()]


def wait_for(condition, timeout: float = 60.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False): for a state of
    another thread that signals nothing."""
    tick = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        tick.wait(0.005)
    return True


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_each_file_of_an_ingest_is_an_import_of_its_own(capsys, db, tmp_path):
    a = tmp_path / "a.ndjson"
    a.write_text("\n".join([ev("acme", "1.50"), ev("bob", "2"), "not json"]) + "\n")
    b = tmp_path / "b.ndjson"
    b.write_text("\n".join([ev("bob", "2"), ev("cyan", "3")]) + "\n")
    code, out, _ = cli(capsys, "ingest", a, b, "--db", db, "--json")
    assert code == 0 and json.loads(out)["received"] == 5

    code, out, _ = cli(capsys, "imports", "list", "--json", "--db", db)
    assert code == 0
    rows = json.loads(out)
    assert all(LIST_KEYS <= row.keys() for row in rows)
    assert [{k: r[k] for k in LIST_KEYS - {"started_at"}} | {"kind": r["kind"]}
            for r in rows] == [
        {"id": 1, "source": str(a), "kind": "file", "received": 3, "accepted": 2,
         "duplicates": 0, "rejected": 1, "failed": 0, "pending": 0, "undone": False},
        {"id": 2, "source": str(b), "kind": "file", "received": 2, "accepted": 1,
         "duplicates": 1, "rejected": 0, "failed": 0, "pending": 0, "undone": False}]
    first, second = rows
    assert first["started_at"] <= first["finished_at"] <= second["started_at"]
    assert second["started_at"] <= second["finished_at"]
    assert first["faults"] == second["faults"] == "off"


def test_a_paste_is_an_import(service):
    s = paste(service, ev("acme", "1"), ev("acme", "1"), '{"client": "x", "amount": "oops"}')
    assert (s.accepted, s.duplicates, s.rejected) == (1, 1, 1)
    [row] = service.imports()
    assert (row.id, row.kind, row.source, row.faults, row.undone_at) == (
        1, "paste", "pasted", "off", None)
    assert (row.received, row.accepted, row.duplicates, row.rejected, row.failed,
            row.pending) == (3, 1, 1, 1, 0, 0)
    assert row.finished_at is not None and row.started_at <= row.finished_at
    assert service.import_info(1) == row and service.import_info(2) is None


def test_http_requests_are_imports_and_a_keyed_retry_is_not_a_new_one(service):
    srv = BackgroundServer(service, port=0, retry_after_s=0)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as api:
            body = "\n".join([ev("acme", "12.50"), ev("bob", "1")])
            assert api.post("/events", content=body).status_code == 201
            # the same body again without a key: a request of its own, all duplicates
            assert api.post("/events", content=body).status_code == 200
            keyed = ev("cyan", "7")
            first = api.post("/events", content=keyed, headers={"Idempotency-Key": "order-1"})
            retry = api.post("/events", content=keyed, headers={"Idempotency-Key": "order-1"})
    finally:
        srv.stop()
    assert first.status_code == 201
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    rows = service.imports()
    assert [(r.id, r.kind, r.source) for r in rows] == [
        (1, "http", "http:127.0.0.1"), (2, "http", "http:127.0.0.1"),
        (3, "http", "http:127.0.0.1")]  # the retry ran nothing: no fourth import
    assert counts(service) == {1: (2, 0, 0, 0, False), 2: (0, 2, 0, 0, False),
                               3: (1, 0, 0, 0, False)}
    assert totals(service) == {("acme", None): (1, Decimal("12.50")),
                               ("bob", None): (1, Decimal("1")),
                               ("cyan", None): (1, Decimal("7"))}


def test_a_kept_http_answer_still_answers_its_retry_after_an_undo(service):
    """Undo does not touch the kept answers of keyed requests (docs/imports.md): a retry with
    the key gets the first answer again and stores nothing; the same body without the key
    is a new request, stored as a new import."""
    srv = BackgroundServer(service, port=0, retry_after_s=0)
    body = ev("acme", "7")
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as api:
            first = api.post("/events", content=body, headers={"Idempotency-Key": "o-1"})
            assert not service.undo_import(1).already
            retry = api.post("/events", content=body, headers={"Idempotency-Key": "o-1"})
            assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
            assert retry.content == first.content
            assert totals(service) == {} and len(service.imports()) == 1
            fresh = api.post("/events", content=body)
    finally:
        srv.stop()
    assert fresh.status_code == 201
    assert counts(service) == {1: (1, 0, 0, 0, True), 2: (1, 0, 0, 0, False)}
    assert totals(service) == {("acme", None): (1, Decimal("7"))}


def test_a_quarantine_resubmit_is_an_import(service):
    paste(service, ev("acme", "1"), '{"client": "bob", "amount": "oops"}')
    [entry] = service.quarantine()
    s = service.resubmit_quarantined(entry.id, ev("bob", "2"))
    assert s.accepted == 1
    rows = service.imports()
    assert [(r.id, r.kind, r.source) for r in rows] == [
        (1, "paste", "pasted"), (2, "resubmit", f"quarantine #{entry.id}")]
    # the rejection stays in the first import's counts, as what happened to its line
    assert counts(service) == {1: (1, 0, 1, 0, False), 2: (1, 0, 0, 0, False)}
    assert service.quarantine() == []


def test_an_outbox_drain_counts_in_the_original_import(db, open_service):
    faults = FaultSwitch(3)
    faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
    svc = open_service(db, faults=faults,
                       retry=RetryPolicy(attempts=2, base_delay_s=0.001, cap_s=0.002))
    lines = [ev(f"c{i % 4}", str(i)) for i in range(40)]
    assert paste(svc, *lines, source="crashing").failed == 40
    faults.enabled = False
    paste(svc, ev("z", "5"), source="healthy")
    rows = svc.imports()
    assert [(r.source, r.faults) for r in rows] == [
        ("crashing", "before_write always (seed 3)"), ("healthy", "off")]
    # the failed events wait: counted as received and pending by their own import
    assert [(r.received, r.accepted, r.failed, r.pending) for r in rows] == [
        (40, 0, 40, 40), (1, 1, 0, 0)]

    drained = svc.retry_pending()
    assert (drained.accepted, drained.pending) == (40, 0)
    rows = svc.imports()
    assert len(rows) == 2  # a drain is no import of its own
    assert [(r.received, r.accepted, r.failed, r.pending) for r in rows] == [
        (40, 40, 40, 0), (1, 1, 0, 0)]
    assert totals(svc)[("c1", None)] == (10, Decimal(sum(range(1, 40, 4))))


def test_imports_list_show_and_undo_on_the_command_line(capsys, db, tmp_path):
    a = tmp_path / "a.ndjson"
    a.write_text("\n".join([ev("acme", "1.50"), ev("bob", "2")]) + "\n")
    b = tmp_path / "b.ndjson"
    b.write_text("\n".join([ev("bob", "2"), ev("cyan", "3")]) + "\n")
    cli(capsys, "ingest", a, b, "--db", db, "--json")

    code, out, _ = cli(capsys, "imports", "list", "--db", db)
    assert code == 0
    header, rule, one, two = out.splitlines()
    assert set(rule.replace(" ", "")) == {"-"}
    assert header.split()[:4] == ["id", "kind", "source", "started"]
    assert one.split()[:3] == ["1", "file", str(a)] and two.split()[:3] == ["2", "file", str(b)]

    code, out, _ = cli(capsys, "imports", "show", "2", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"import #2: file {b}"
    assert lines[2] == "faults in force: off"
    assert lines[3] == ("received 2, accepted 1, duplicates 1, rejected 0, failed 0, "
                        "pending 0")
    code, out, _ = cli(capsys, "imports", "show", "2", "--json", "--db", db)
    assert json.loads(out)["undone"] is False and json.loads(out)["duplicates"] == 1

    code, out, _ = cli(capsys, "imports", "undo", "1", "--db", db)
    assert code == 0
    assert out.strip() == ("import #1 undone: 1 event(s) left the totals, 1 went to a later "
                           "import that sent them too, 0 key conflict(s) accepted in their "
                           "place")
    code, out, _ = cli(capsys, "imports", "undo", "1", "--db", db)
    assert (code, out.strip()) == (0, "import #1 was undone already; nothing changed")
    code, out, _ = cli(capsys, "imports", "undo", "1", "--json", "--db", db)
    assert json.loads(out) == {"import_id": 1, "removed": 0, "handed_over": 0,
                               "conflicts_accepted": 0, "already": True}

    code, out, _ = cli(capsys, "imports", "show", "1", "--db", db)
    assert "undone " in out and "(the counts are those it had then)" in out
    code, out, _ = cli(capsys, "imports", "list", "--json", "--db", db)
    assert [(r["id"], r["accepted"], r["duplicates"], r["undone"]) for r in json.loads(out)] \
        == [(1, 2, 0, True), (2, 2, 0, False)]  # bob's event now belongs to import 2
    code, out, _ = cli(capsys, "stats", "--json", "--db", db)
    assert sorted((r["client"], r["count"], r["total"]) for r in json.loads(out)) == [
        ("bob", 1, "2"), ("cyan", 1, "3")]

    code, out, _ = cli(capsys, "imports", "undo", "2", "--json", "--db", db)
    assert code == 0 and json.loads(out) == {"import_id": 2, "removed": 2, "handed_over": 0,
                                             "conflicts_accepted": 0, "already": False}
    code, out, _ = cli(capsys, "stats", "--json", "--db", db)
    assert json.loads(out) == []


def test_an_unknown_import_is_a_clear_error(capsys, db, tmp_path):
    a = tmp_path / "a.ndjson"
    a.write_text(ev("acme", "1") + "\n")
    cli(capsys, "ingest", a, "--db", db, "--json")
    for action in ("undo", "show"):
        code, out, err = cli(capsys, "imports", action, "99", "--db", db)
        assert (code, out, err.strip()) == (1, "", "faultsim: there is no import #99")
    code, out, _ = cli(capsys, "stats", "--json", "--db", db)
    assert [(r["client"], r["count"]) for r in json.loads(out)] == [("acme", 1)]


def test_undo_hands_an_event_to_the_later_import_that_sent_it_too(service):
    paste(service, ev("acme", "1"), ev("bob", "2"), source="first")
    paste(service, ev("cyan", "3"), ev("acme", "1"), source="second")
    assert counts(service) == {1: (2, 0, 0, 0, False), 2: (1, 1, 0, 0, False)}

    result = service.undo_import(1)
    assert (result.removed, result.handed_over, result.conflicts_accepted, result.already) \
        == (1, 1, 0, False)
    assert totals(service) == {("acme", None): (1, Decimal("1")),
                               ("cyan", None): (1, Decimal("3"))}
    # the undone import keeps the counts it had; the copy is now the second's accepted event
    assert counts(service) == {1: (2, 0, 0, 0, True), 2: (2, 0, 0, 0, False)}
    [acme] = [e for e in events(service) if e.client == "acme"]
    assert (acme.source, acme.line) == ("second", 2)
    assert service.undo_import(1).already and counts(service)[2] == (2, 0, 0, 0, False)


def test_an_event_handed_over_takes_the_later_receipt_time_when_it_has_no_time(service):
    paste(service, ev("acme", "1"), source="first")
    paste(service, ev("acme", "1"), ev("acme", "2"), source="second")
    second = service.imports()[1]
    service.undo_import(1)
    # as if only the second import had been ingested: it received both events, so both take
    # its time of receipt, and so do the client's first and last seen
    assert all(e.event_time >= second.started_at for e in events(service))
    [total] = service.stats()
    assert (total.count, total.total) == (2, Decimal("3"))
    assert total.first_seen >= second.started_at
    assert service.stats() == service.stats_from_events()


def test_undo_accepts_the_key_conflict_of_a_later_import(service):
    paste(service, ev("acme", "10", key="k1"), source="first")
    s = paste(service, ev("acme", "20", key="k1"), source="second")
    assert s.rejected == 1
    [conflict] = service.quarantine()
    assert conflict.code == "idempotency_conflict"

    result = service.undo_import(1)
    assert (result.removed, result.handed_over, result.conflicts_accepted) == (1, 0, 1)
    assert totals(service) == {("acme", None): (1, Decimal("20"))}
    assert counts(service) == {1: (1, 0, 0, 0, True), 2: (1, 0, 0, 0, False)}
    assert service.quarantine() == []  # the conflict is resolved: its event now counts
    assert service.quarantine_entry(conflict.id).status == "resolved"


def test_a_later_copy_of_the_undone_content_becomes_a_key_conflict(service):
    paste(service, ev("acme", "10", key="k1"), source="first")
    paste(service, ev("acme", "20", key="k1"), source="second")
    paste(service, ev("acme", "10", key="k1"), source="third")  # a copy of the first's
    assert counts(service) == {1: (1, 0, 0, 0, False), 2: (0, 0, 1, 0, False),
                               3: (0, 1, 0, 0, False)}

    service.undo_import(1)
    assert totals(service) == {("acme", None): (1, Decimal("20"))}
    # as if only the second and third were ingested: the third's event lost the key
    assert counts(service) == {1: (1, 0, 0, 0, True), 2: (1, 0, 0, 0, False),
                               3: (0, 0, 1, 0, False)}
    [entry] = service.quarantine()
    assert (entry.code, entry.source, entry.line) == ("idempotency_conflict", "third", 1)
    assert json.loads(entry.raw) == {"client": "acme", "amount": "10", "idempotency_key": "k1"}
    [rejected] = [r for r in service.recent_log(10) if r.outcome == "rejected"]
    assert (rejected.source, rejected.amount) == ("third", "10")
    [held] = events(service)
    assert rejected.event_id == held.id and Decimal(held.amount) == Decimal("20")


def test_a_conflict_with_the_undone_event_names_the_event_accepted_in_its_place(service):
    paste(service, ev("acme", "10", key="k1"), source="first")
    paste(service, ev("acme", "20", key="k1"), source="second")
    paste(service, ev("acme", "30", key="k1"), source="third")
    service.undo_import(1)
    [held] = events(service)
    assert (held.source, Decimal(held.amount)) == ("second", Decimal("20"))
    [entry] = service.quarantine()
    [rejected] = [r for r in service.recent_log(10) if r.outcome == "rejected"]
    assert entry.source == rejected.source == "third" and rejected.event_id == held.id
    assert f"already used by event #{held.id} with different content" in entry.reason
    assert entry.reason == rejected.reason


def test_a_client_named_as_only_the_undone_import_spelled_it_takes_the_remaining_name(
        service):
    paste(service, ev("ACME Corp", "1"), source="first")
    paste(service, ev("acme corp", "2"), ev("Acme Corp", "3"), source="second")
    assert [t.client for t in service.stats()] == ["ACME Corp"]  # the first spelling
    service.undo_import(1)
    # as if only the second import had been ingested: its first spelling names the client
    assert [(t.client, t.count, t.total) for t in service.stats()] == [
        ("acme corp", 2, Decimal("5"))]


def test_a_client_named_by_an_event_handed_to_a_later_import_takes_that_imports_name(
        service):
    paste(service, ev("ACME Corp", "1"), source="first")
    paste(service, ev("acme corp", "2"), ev("ACME Corp", "1"), source="second")
    service.undo_import(1)
    # the second import alone names the client by its line 1; its line 2 is the event
    # handed over from the first
    assert [(t.client, t.count, t.total) for t in service.stats()] == [
        ("acme corp", 2, Decimal("3"))]


def test_a_bad_line_another_import_also_sent_is_shown_as_that_import_sent_it(service):
    paste(service, "not json", source="first")
    paste(service, ev("acme", "1"), ev("bob", "2"), "not json", source="second")
    [entry] = service.quarantine()
    assert (entry.source, entry.line, entry.times_seen) == ("second", 3, 2)
    service.undo_import(2)
    # as if only the first import had been ingested
    [entry] = service.quarantine()
    assert (entry.source, entry.line, entry.times_seen, entry.status) == (
        "first", 1, 1, "open")
    assert entry.reason.startswith("line 1, column 1: ")
    assert entry.last_seen == entry.first_seen


def test_undoing_the_middle_of_three_imports(service):
    paste(service, ev("acme", "1"), ev("bob", "2"), "not json", source="one")
    paste(service, ev("bob", "2"), ev("cyan", "3"), ev("dan", "4.25"), "not json",
          source="two")
    paste(service, ev("cyan", "3"), ev("eve", "5"), source="three")
    assert counts(service) == {1: (2, 0, 1, 0, False), 2: (2, 1, 1, 0, False),
                               3: (1, 1, 0, 0, False)}

    result = service.undo_import(2)
    assert (result.removed, result.handed_over, result.conflicts_accepted) == (1, 1, 0)
    assert totals(service) == {("acme", None): (1, Decimal("1")),
                               ("bob", None): (1, Decimal("2")),
                               ("cyan", None): (1, Decimal("3")),
                               ("eve", None): (1, Decimal("5"))}
    assert counts(service) == {1: (2, 0, 1, 0, False), 2: (2, 1, 1, 0, True),
                               3: (2, 0, 0, 0, False)}
    # "not json" was sent by the first import too: its quarantine entry stays open
    [entry] = service.quarantine()
    assert entry.raw == "not json" and entry.status == "open"


def test_undo_drops_the_imports_events_still_waiting_in_the_outbox(db, open_service):
    faults = FaultSwitch(3)
    # the first of four 5-event transactions fails twice, so its events wait in the outbox
    faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.NEXT_N, remaining=2))
    svc = open_service(db, faults=faults, batch_size=5,
                       retry=RetryPolicy(attempts=2, base_delay_s=0.001, cap_s=0.002))
    paste(svc, *[ev(f"c{i % 4}", str(i)) for i in range(20)], source="partly")
    paste(svc, ev("z", "9"), source="other")
    other_uid = svc.imports()[1].uid
    faults.enabled = False
    assert counts(svc) == {1: (15, 0, 0, 5, False), 2: (1, 0, 0, 0, False)}
    assert svc.outbox.count() == 5

    result = svc.undo_import(1)
    assert (result.removed, result.handed_over, result.conflicts_accepted) == (15, 0, 0)
    assert svc.outbox.count() == 0 and svc.pending() == []
    assert totals(svc) == {("z", None): (1, Decimal("9"))}
    # a drain now has nothing of the undone import to bring back
    assert svc.retry_pending().accepted == 0
    assert totals(svc) == {("z", None): (1, Decimal("9"))}
    assert counts(svc) == {1: (15, 0, 0, 5, True), 2: (1, 0, 0, 0, False)}
    assert svc.imports()[1].uid == other_uid


def test_bad_lines_only_in_the_undone_import_leave_the_open_quarantine(service):
    paste(service, ev("acme", "1"), "not json", NO_CLIENT, source="one")
    paste(service, ev("bob", "2"), NO_CLIENT, source="two")
    assert {q.raw for q in service.quarantine()} == {"not json", NO_CLIENT}

    service.undo_import(1)
    # the line without a client was also sent by the second import: it stays open
    assert [q.raw for q in service.quarantine()] == [NO_CLIENT]
    [gone] = [q for q in service.quarantine(status=None) if q.raw == "not json"]
    assert gone.status == "undone"
    assert totals(service) == {("bob", None): (1, Decimal("2"))}

    service.undo_import(2)
    assert service.quarantine() == []
    assert {q.status for q in service.quarantine(status=None)} == {"undone"}
    assert totals(service) == {}


class _Trickle:
    """A stream the test feeds block by block: ``read`` waits for the next block, b"" ends."""

    def __init__(self) -> None:
        self.blocks: queue.Queue[bytes] = queue.Queue()

    def read(self, n: int = -1) -> bytes:
        return self.blocks.get(timeout=60)


def test_an_undo_while_the_import_is_still_being_ingested_raises_import_busy(service):
    stream = _Trickle()
    stored = threading.Event()
    unsubscribe = service.subscribe(lambda records: stored.set())
    # more than one chunk (1 MiB), so the first is stored while the rest has not arrived
    first = "".join(ev(f"c{i % 7}", str(i)) + "\n" for i in range(40_000)).encode()
    stream.blocks.put(first)
    done: list = []
    feeder = threading.Thread(target=lambda: done.append(
        service.ingest_stream(stream, "slow.ndjson")))
    feeder.start()
    try:
        assert stored.wait(60), "the first chunk was never stored"
        [row] = service.imports()
        assert row.source == "slow.ndjson" and row.accepted > 0
        with pytest.raises(ImportBusy, match=r"import #1 \(slow.ndjson\) is still being"):
            service.undo_import(1)
        assert service.import_info(1).undone_at is None
    finally:
        stream.blocks.put(ev("last", "1").encode() + b"\n")
        stream.blocks.put(b"")
        feeder.join(60)
        unsubscribe()
    assert done[0].accepted == 40_001
    assert not service.undo_import(1).already
    assert totals(service) == {}
    assert counts(service) == {1: (40_001, 0, 0, 0, True)}


def test_a_drain_queued_behind_an_undo_does_not_bring_the_import_back(db, open_service):
    faults = FaultSwitch(3)
    faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
    svc = open_service(db, faults=faults,
                       retry=RetryPolicy(attempts=2, base_delay_s=0.001, cap_s=0.002))
    paste(svc, *[ev(f"c{i % 4}", str(i)) for i in range(40)], source="crashing")
    faults.enabled = False
    assert counts(svc) == {1: (0, 0, 0, 40, False)}

    # the writer is held, so the undo and the drain queue up in that order behind it
    entered, release = threading.Event(), threading.Event()
    held = threading.Thread(target=svc.in_writer,
                            args=(lambda s: (entered.set(), release.wait(60)),))
    held.start()
    assert entered.wait(60)
    undo = threading.Thread(target=svc.undo_import, args=(1,))
    drain = threading.Thread(target=svc.retry_pending)
    undo.start()
    assert wait_for(lambda: svc._writer.queue.qsize() == 1), "the undo was never queued"
    drain.start()
    # the drain either queues its 40 events behind the undo, or finds a drain under way
    assert wait_for(lambda: not drain.is_alive() or svc._writer.queue.qsize() > 1)
    release.set()
    for t in (held, undo, drain):
        t.join(60)

    assert totals(svc) == {} and svc.outbox.count() == 0
    assert counts(svc) == {1: (0, 0, 0, 40, True)}
    assert svc.retry_pending().accepted == 0 and totals(svc) == {}


_SPELLINGS = ["acme", "ACME", "Bob", "bob"]  # two clients, each spelled two ways
_AMOUNTS = ["1.00", "2.50", "$3", "1.234,50 €", "4 EUR"]
_BAD = ['{"client": "acme", "amount": ', NO_CLIENT, "not json"]


@st.composite
def _line(draw) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(_BAD))
    d = {"client": draw(st.sampled_from(_SPELLINGS)), "amount": draw(st.sampled_from(_AMOUNTS))}
    key = draw(st.sampled_from([None, None, "k1", "k2"]))
    if key is not None:
        d["idempotency_key"] = key
    if draw(st.booleans()):
        d["ts"] = 1_700_000_000 + draw(st.integers(0, 4))
    return json.dumps(d)


def _seen(svc, sources: set[str]) -> tuple:
    """Everything a user reads after an undo: totals by the client's shown name, each
    remaining import's counts, the open quarantine as listed, where each event came from,
    and the remaining imports' log rows (event ids left out: they differ between databases)."""
    rows = svc.imports()
    assert sorted(svc.stats(), key=repr) == sorted(svc.stats_from_events(), key=repr)
    return (
        sorted((t.client, t.currency or "", t.count, t.total) for t in svc.stats()),
        [(r.source, r.accepted, r.duplicates, r.rejected) for r in rows if r.undone_at is None],
        sorted((q.raw, q.code, q.source, q.line, q.times_seen, re.sub(r"#\d+", "#", q.reason))
               for q in svc.quarantine()),
        sorted((e.client, e.amount, e.source, e.line) for e in events(svc)),
        sorted((r.outcome, r.source, r.line, re.sub(r"#\d+", "#", r.reason or ""))
               for r in svc.recent_log(10_000) if r.outcome != "accepted" and r.source in sources))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(imports=st.lists(st.lists(_line(), min_size=1, max_size=8), min_size=2, max_size=5),
       data=st.data())
def test_after_undos_the_user_sees_what_ingesting_only_the_rest_shows(service, imports, data):
    service.reset()
    for n, lines in enumerate(imports):
        paste(service, *lines, source=f"import {n}")
    ids = [r.id for r in service.imports()]
    undo = data.draw(st.lists(st.sampled_from(range(len(ids))), min_size=1, unique=True),
                     label="undo")
    for i in undo:
        service.undo_import(ids[i])
    kept = [n for n in range(len(imports)) if n not in undo]
    sources = {f"import {n}" for n in kept}
    after_undo = _seen(service, sources)

    service.reset()
    for n in kept:
        paste(service, *imports[n], source=f"import {n}")
    assert after_undo == _seen(service, sources)


def test_an_id_sqlite_gives_again_after_an_undo_has_no_copies_of_the_undone_event(service):
    """The undone import's events had the highest ids; SQLite gives them to the next events.
    The undone import's log rows (its own retry of its event) must not make the new,
    unrelated event look copied."""
    first = service.submit_text('{"client": "acme", "amount": "1"}', source="one").wait(30)
    assert first.accepted == 1
    sent = '{"client": "zed", "amount": "7"}\n{"client": "zed", "amount": "7"}'
    assert service.submit_text(sent, source="two").wait(30).duplicates == 1
    two = service.imports()[-1]
    [gone] = [e for e in service.events_page() if e.client == "zed"]
    assert [c.outcome for c in service.event_copies(gone.id)] == ["duplicate"]
    service.undo_import(two.id)
    assert service.submit_text('{"client": "new", "amount": "3"}', source="three"
                               ).wait(30).accepted == 1
    [new] = [e for e in service.events_page() if e.client == "new"]
    assert service.event_copies(new.id) == []
    assert service.explain_event(new.id).copies == []
