"""What only a PostgreSQL server does: it stops and comes back, refuses a login, loses a
database, holds another program's tables or a newer schema; several processes write one
database. Everything both backends share runs on both in the other storage tests (``db``)."""
import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
from decimal import Decimal

import psycopg
import pytest

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.storage.postgres_schema import _SCHEMA_V1, SCHEMA_VERSION
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.storage import open_backend
from faultsim_desktop.core.errors import StorageError

from benchmarks.corpus import generate
from benchmarks.pgserver import PASSWORD, PASSWORD_ROLE, free_port

pytestmark = pytest.mark.postgresql

FAST = RetryPolicy(attempts=2, base_delay_s=0.001, cap_s=0.002)
BEFORE = '{"client": "a", "amount": "1.10", "currency": "EUR"}\n{"client": "b", "amount": 2}'
DURING = '{"client": "a", "amount": "0.05", "currency": "EUR"}\n{"client": "c", "amount": 7}'
TRUTH_AFTER = {("a", "EUR"): (2, Decimal("1.15")), ("b", None): (1, Decimal(2)),
               ("c", None): (1, Decimal(7))}


def totals(svc):
    return {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}


def _faultsim(*args, check=True, timeout=120):
    p = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in p.stderr, p.stderr
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_server_stopped_mid_ingest_events_wait_then_count_once_after_restart(
        pg_server, pg_db, tmp_path):
    data = tmp_path / "events.ndjson"
    truth = generate(data, 600, seed=5, clients=12)["truth"]
    stopped = threading.Event()

    def stop_after_the_first_commit(records):  # on the writer thread: the next batch fails
        if not stopped.is_set() and any(r.outcome is Outcome.ACCEPTED for r in records):
            stopped.set()
            pg_server.stop("immediate")

    try:
        with IngestService(pg_db, workers=0, batch_size=50, retry=FAST) as svc:
            svc.subscribe(stop_after_the_first_commit)
            first = svc.ingest_file(data)
            assert stopped.is_set() and 0 < first.accepted < first.received
            assert first.failed == svc.outbox.count() > 0
            assert svc.problem.kind == "open" and "Cannot reach the PostgreSQL server" in str(
                svc.problem)
            with pytest.raises(StorageError, match="Cannot reach"):
                svc.stats()  # a read says why too
            pg_server.start()
            drained = svc.retry_pending()
            assert (drained.failed, drained.pending) == (0, 0)
            assert drained.accepted + drained.duplicates + drained.rejected == first.failed
            assert svc.problem is None
            assert totals(svc) == {k: (n, t) for k, (n, t) in truth.items()}
            assert svc.stats() == svc.stats_from_events()
            assert svc.counts()["events"] == sum(n for n, _ in truth.values())
            assert svc.integrity_check() == "ok"
    finally:
        if not pg_server.running:
            pg_server.start()


def _check(svc):
    """Have the writer look at its database now, as the window does every second; wait."""
    from faultsim_desktop.core.writer import WriteJob, _check_only

    job = WriteJob([], command=_check_only)
    svc._writer.submit(job)
    assert job.done.wait(30)


def test_a_stopped_server_is_noticed_while_idle_and_the_problem_clears_when_back(
        pg_server, pg_db):
    try:
        with IngestService(pg_db, workers=0, retry=FAST) as svc:
            assert svc.submit_text(BEFORE).wait(30).accepted == 2
            pg_server.stop("immediate")
            _check(svc)
            assert svc.problem is not None and svc.problem.kind == "open"
            assert "Cannot reach the PostgreSQL server" in str(svc.problem)
            pg_server.start()
            _check(svc)
            assert svc.problem is None
            assert svc.submit_text(DURING).wait(30).accepted == 2
            assert totals(svc) == TRUTH_AFTER
    finally:
        if not pg_server.running:
            pg_server.start()


def test_unreachable_server_is_explained_and_the_password_never_shown():
    url = f"postgresql://alice:Pw-not-to-show-9@127.0.0.1:{free_port()}/sales?connect_timeout=5"
    with pytest.raises(StorageError) as caught:
        IngestService(url, workers=0)
    message = str(caught.value)
    assert caught.value.kind == "open"
    assert "Cannot reach the PostgreSQL server" in message and "Connection refused" in message
    assert "postgresql://alice:***@127.0.0.1" in message and "Pw-not-to-show-9" not in message


def test_a_refused_login_is_explained_without_the_password(pg_server, pg_db):
    good = pg_server.with_password(pg_db)
    with pytest.raises(StorageError) as caught:
        IngestService(good.replace(PASSWORD, "Wrong-pw-123"), workers=0)
    message = str(caught.value)
    assert caught.value.kind == "open" and "refused the login" in message
    assert "password authentication failed" in message and "Wrong-pw-123" not in message
    with IngestService(good, workers=0) as svc:
        assert svc.submit_text(BEFORE).wait(30).accepted == 2
        assert PASSWORD not in svc.db_label and "***" in svc.db_label


def test_a_missing_database_is_explained(pg_server):
    with pytest.raises(StorageError, match=r'database .*nosuchdb.* does not exist') as caught:
        IngestService(pg_server.url("nosuchdb"), workers=0)
    assert caught.value.kind == "open" and "createdb" in str(caught.value)


def test_a_database_dropped_while_open_is_never_recreated_empty(pg_server, pg_db):
    name = pg_db.split("@/", 1)[1].split("?", 1)[0]
    with IngestService(pg_db, workers=0, retry=FAST) as svc:
        assert svc.submit_text(BEFORE).wait(30).accepted == 2
        pg_server.sql(f"DROP DATABASE {name} WITH (FORCE)")
        s = svc.submit_text(DURING).wait(30)
        assert (s.accepted, s.failed, svc.outbox.count()) == (0, 2, 2)
        assert "does not exist" in str(svc.problem)
        pg_server.sql(f"CREATE DATABASE {name}")  # an empty one under the same name
        s = svc.retry_pending()
        assert (s.failed, s.pending) == (2, 2)
        assert svc.problem.kind == "missing" and "holds no faultsim tables" in str(svc.problem)
    with psycopg.connect(pg_db) as conn:  # nothing was created in it behind the user's back
        assert conn.execute("SELECT to_regclass('events')").fetchone()[0] is None
    with IngestService(pg_db, workers=0, retry=FAST) as svc:  # opened anew: a new database
        assert svc.retry_pending().accepted == 2
        assert totals(svc) == {("a", "EUR"): (1, Decimal("0.05")), ("c", None): (1, Decimal(7))}


def test_another_programs_tables_are_left_alone(pg_db):
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id serial, what text)")
        conn.execute("INSERT INTO events (what) VALUES ('theirs')")
    with pytest.raises(StorageError, match="tables faultsim did not create") as caught:
        IngestService(pg_db, workers=0)
    assert caught.value.kind == "foreign"
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT what FROM events").fetchall() == [("theirs",)]
        assert conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None


def test_a_newer_schema_is_refused(pg_db):
    with IngestService(pg_db, workers=0) as svc:
        svc.submit_text(BEFORE).wait(30)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StorageError, match=r"newer faultsim \(schema 99\)") as caught:
        IngestService(pg_db, workers=0)
    assert caught.value.kind == "newer"


def test_a_version_1_database_is_upgraded_in_place_and_keeps_its_data(pg_db):
    # the first PostgreSQL schema, as an earlier faultsim left it, with one event in it
    with psycopg.connect(pg_db, autocommit=True) as conn:
        for statement in _SCHEMA_V1:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('application', 'faultsim-desktop'),"
                     " ('schema_version', '1')")
    with IngestService(pg_db, workers=0) as svc:
        assert svc.submit_text(BEFORE).wait(30).accepted == 2
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM schemas")
        conn.execute("ALTER TABLE events DROP COLUMN mapping_version")
        conn.execute("ALTER TABLE events DROP COLUMN receipt")
        conn.execute("DROP TABLE schemas")
        conn.execute("DROP TABLE requests")  # and version 3's
        conn.execute("ALTER TABLE quarantine DROP COLUMN fingerprint")
        for statement in ("DROP TABLE imports", "DROP TABLE conflicts",  # and version 4's
                          "ALTER TABLE events DROP COLUMN import_id",
                          "ALTER TABLE log DROP COLUMN import_id"):
            conn.execute(statement)
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with IngestService(pg_db, workers=0) as svc:  # upgraded to the current version
        assert svc.submit_text(DURING).wait(30).accepted == 2
        assert totals(svc) == TRUTH_AFTER
        assert svc.mappings() == []
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                            ).fetchone()[0] == str(SCHEMA_VERSION)
        assert conn.execute("SELECT count(*) FROM events WHERE mapping_version IS NULL"
                            ).fetchone()[0] == 4


def test_writers_starting_together_on_an_empty_database_create_the_schema_once(pg_server):
    # Regression: a writer saw "no meta table" and, a statement later, the tables another
    # writer had just committed, and refused the database as another program's.
    for _ in range(6):
        url = pg_server.create_database()
        results = []

        def open_one():
            try:
                with IngestService(url, workers=0) as svc:
                    results.append(svc.submit_text(BEFORE).wait(30))
            except Exception as exc:  # surfaced below
                results.append(exc)
        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pg_server.drop_database(url)
        assert sorted(getattr(r, "accepted", r) for r in results) == [0, 0, 0, 2]


def test_every_command_works_on_a_postgresql_url(pg_server, pg_db, tmp_path):
    url = pg_server.with_password(pg_db)
    data = tmp_path / "events.ndjson"
    data.write_text(BEFORE + "\n" + DURING + "\nnot json\n", encoding="utf-8")
    reading = ("stats", "log", "export", "pending", "quarantine")
    for command in reading:  # nothing there yet: refused, and nothing is created
        p = _faultsim(command, "--db", url, check=False)
        assert p.returncode == 1 and "There is no faultsim database" in p.stderr
        assert PASSWORD not in p.stderr
    first = json.loads(_faultsim("ingest", data, "--db", url, "--json").stdout)
    assert (first["accepted"], first["rejected"]) == (4, 1)
    again = json.loads(_faultsim("ingest", data, "--db", url, "--json").stdout)
    assert (again["duplicates"], again["accepted"]) == (4, 0)
    stats = json.loads(_faultsim("stats", "--db", url, "--json").stdout)
    assert {(r["client"], r["currency"]): (r["count"], Decimal(r["total"])) for r in stats} \
        == TRUTH_AFTER
    log = [json.loads(line) for line in
           _faultsim("log", "--db", url, "--json", "-n", 100).stdout.splitlines()]
    assert sorted(r["outcome"] for r in log).count("duplicate") == 4
    exported = [json.loads(line) for line in
                _faultsim("export", "--db", url, "--format", "ndjson").stdout.splitlines()]
    assert sorted(Decimal(e["amount"]) for e in exported) == [Decimal("0.05"), Decimal("1.10"),
                                                               Decimal(2), Decimal(7)]
    quarantined = json.loads(_faultsim("quarantine", "list", "--db", url, "--json").stdout)
    assert [(q["raw"], q["times_seen"]) for q in quarantined] == [("not json", 2)]
    assert json.loads(_faultsim("pending", "list", "--db", url, "--json").stdout) == []
    failing = _faultsim("ingest", data, "--db", url, "--json", "--retries", "0",
                        "--fault", "before_write:always", check=False)
    assert failing.returncode == 3 and json.loads(failing.stdout)["pending"] == 5
    pending = json.loads(_faultsim("pending", "list", "--db", url, "--json").stdout)
    assert len(pending) == 5 and PASSWORD not in json.dumps(pending)
    drained = json.loads(_faultsim("pending", "retry", "--db", url, "--json").stdout)
    assert (drained["duplicates"], drained["rejected"], drained["pending"]) == (4, 1, 0)
    stopped = _faultsim("stats", "--db", pg_server.url("nosuchdb", PASSWORD_ROLE, PASSWORD),
                        check=False)
    assert stopped.returncode == 1 and "does not exist" in stopped.stderr
    assert PASSWORD not in stopped.stderr


def test_several_serve_processes_under_load_with_faults_count_each_event_once(
        pg_db, tmp_path, processes):
    """Three ``faultsim serve`` processes on one database, each with the crash switch on
    (mid-transaction failures and lost acknowledgements), hit by http_load's clients, which
    retry 503s and dropped connections; every server gets the whole corpus, batched its own
    way. Once the outbox is drained, the totals are the corpus' truth exactly."""
    from benchmarks.http_load import _load

    corpus = tmp_path / "corpus.ndjson"
    truth = generate(corpus, 3000, seed=41, clients=30)["truth"]
    lines = corpus.read_text(encoding="utf-8").splitlines()
    servers = []
    try:
        for k in range(3):
            proc = processes.start(
                [sys.executable, "-m", "faultsim_desktop.cli", "serve", "--db", pg_db,
                 "--port", "0", "--seed", str(k), "--retries", "1",
                 "--fault", "mid_transaction:0.3", "--fault", "after_commit:0.2"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            servers.append(proc)
        urls = []
        for p in servers:
            found = re.search(r"on (http://\S+)", p.stdout.readline())
            assert found, p.communicate(timeout=60)[1]  # it did not start: its message
            urls.append(found.group(1))

        def bodies(k):  # the whole corpus, rotated and batched differently per server
            start = len(lines) * k // 3
            order = lines[start:] + lines[:start]
            size = (20, 35, 50)[k]
            return ["\n".join(order[i:i + size]).encode() for i in range(0, len(order), size)]

        async def everyone():
            return await asyncio.gather(*(_load(u, bodies(k), 4, "lean")
                                          for k, u in enumerate(urls)))
        results = asyncio.run(everyone())
        codes = {}
        for _, stats, _ in results:
            for code, n in stats.items():
                codes[code] = codes.get(code, 0) + n
        assert codes.get(503, 0) > 0 and codes.get(200, 0) > 0 and codes.get(201, 0) > 0
    finally:
        for p in servers:
            p.send_signal(signal.SIGINT)
        outs = [p.communicate(timeout=120) for p in servers]
    for p, (_, err) in zip(servers, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    drained = _faultsim("pending", "retry", "--db", pg_db, "--json")
    assert json.loads(drained.stdout)["pending"] == 0
    with IngestService(pg_db, workers=0) as svc:
        assert totals(svc) == {k: (n, t) for k, (n, t) in truth.items()}
        assert svc.stats() == svc.stats_from_events()
        assert svc.counts()["events"] == sum(n for n, _ in truth.values())
        assert svc.integrity_check() == "ok"


def test_threads_and_processes_writing_overlapping_events_count_each_once(pg_db, tmp_path,
                                                                          processes):
    events = ['{"client": "c%d", "amount": "%d.10", "event_id": "e%d"}' % (i % 5, i, i)
              for i in range(300)]
    truth = {f"c{k}": (60, sum(Decimal(f"{i}.10") for i in range(300) if i % 5 == k))
             for k in range(5)}
    data = tmp_path / "events.ndjson"
    data.write_text("\n".join(reversed(events)) + "\n")
    procs = [processes.start([sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(data),
                              "--db", pg_db, "--json", "--batch-size", "20", "--retries", "20",
                              "--fault", "mid_transaction:0.2", "--seed", str(k)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    errors = []

    def run(svc, offset):
        try:
            order = events[offset:] + events[:offset]
            for i in range(0, len(order), 25):
                svc.submit_text("\n".join(order[i:i + 25])).wait(120)
        except Exception as exc:  # surfaced below
            errors.append(exc)
    services = []
    try:
        for k in range(3):
            switch = FaultSwitch(k)
            switch.set(FaultPoint.AFTER_COMMIT,
                       FaultConfig(FaultMode.PROBABILITY, probability=0.2))
            services.append(IngestService(pg_db, faults=switch, workers=0, batch_size=25, seed=k,
                                          retry=RetryPolicy(attempts=20, base_delay_s=0.002)))
        threads = [threading.Thread(target=run, args=(s, k * 100))
                   for k, s in enumerate(services)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in services:
            s.close()
        outs = [p.communicate(timeout=120) for p in procs]
    assert errors == [] and [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert all(json.loads(out.strip().splitlines()[-1])["failed"] == 0 for out, _ in outs)
    with IngestService(pg_db, workers=0) as svc:
        svc.retry_pending()  # lost acknowledgements: found stored under their own receipts
        assert svc.outbox.count() == 0
        assert {r.client: (r.count, r.total) for r in svc.stats()} == truth
        assert svc.stats() == svc.stats_from_events() and svc.integrity_check() == "ok"


def test_the_outbox_lives_in_the_data_folder_named_without_the_password(pg_server, pg_db):
    name = pg_db.split("@/", 1)[1].split("?", 1)[0]
    with_pw = open_backend(pg_server.url(name, PASSWORD_ROLE, PASSWORD))
    other_pw = open_backend(pg_server.url(name, PASSWORD_ROLE, "another"))
    assert with_pw.outbox_path == other_pw.outbox_path  # the same database, the same outbox
    assert PASSWORD not in str(with_pw.outbox_path)
    assert with_pw.outbox_path != open_backend(pg_db).outbox_path  # another user: another

