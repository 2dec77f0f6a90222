"""Playing scenarios against a real engine process: every step kind end to end, a restart in
the middle of a send, the three verdicts, and ``faultsim scenario run``'s output and exit
codes. The stored figures are checked against a plain ingest of the same inputs into a fresh
database, not only against the run's own verdict."""
import json
import sqlite3
import threading
from decimal import Decimal

import pytest

from faultsim_desktop.cli import main
from faultsim_desktop.scenario.inputs import step_inputs
from faultsim_desktop.scenario.model import Figure, RunState, Verdict
from faultsim_desktop.scenario.runner import ScenarioRun
from faultsim_desktop.scenario.spec import parse_scenario

ONE = (
    '{"customerId": "acme", "price": "$1,234.50"}\n'
    '{"source": "Globex", "cost": "1.234,50 €"}\n'
    '{"price": "$1,234.50", "customerId": "acme"}\n'  # a retry, keys reordered: a duplicate
    '{"client": "a", "amount": NaN}\n'  # rejected
    '{"client_id": "ACME", "amount_cents": 1000, "currency": "USD"}\n'
)
TWO = (
    '{"client": "Initech", "amount": "£12.50"}\n'
    '{"client": "initech", "amount": "GBP 7.50"}\n'
    '{"client": "Globex", "amount": "3,00 €"}\n'
    '{"customerId": "acme", "price": "$1,234.50"}\n'  # sent in ONE already
)


class Watch:
    """Waits for a run's snapshots (``on_change``), never sleeping on a guess."""

    def __init__(self):
        self.run: ScenarioRun | None = None
        self._cond = threading.Condition()
        self.changes = 0

    def changed(self) -> None:
        with self._cond:
            self.changes += 1
            self._cond.notify_all()

    def until(self, predicate, timeout: float = 120.0):
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self.run.snapshot()), timeout)
        assert ok, f"not reached in {timeout} s: {self.run.snapshot()}"
        return self.run.snapshot()


@pytest.fixture
def play(tmp_path):
    """``play(text, db=None)``: the scenario in ``text`` (paths relative to tmp_path) as a
    ScenarioRun with a Watch; every run is closed after the test."""
    runs = []

    def make(text: str, db=None, speed: float = 1.0):
        scenario = parse_scenario(text, tmp_path, tmp_path / "test.toml")
        watch = Watch()
        run = ScenarioRun(scenario, db if db is not None else tmp_path / "run.db",
                          speed=speed, on_change=watch.changed)
        watch.run = run
        runs.append(run)
        return run, watch
    yield make
    for run in runs:
        run.close()


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "one.ndjson").write_text(ONE, encoding="utf-8")
    (tmp_path / "two.ndjson").write_text(TWO, encoding="utf-8")
    return tmp_path


def plain_ingest(open_service, tmp_path, scenario) -> dict:
    """The figures a fault-free ingest of the scenario's inputs, in timeline order, stores
    in a fresh database: {(client, currency): (count, total)}."""
    svc = open_service(tmp_path / "plain.db")
    for step in sorted(scenario.steps, key=lambda s: (s.at_s, s.index)):
        for source, data in step_inputs(scenario, step):
            svc.submit_text(data, source).wait()
    return {(r.client.casefold(), r.currency or ""): (r.count, r.total) for r in svc.stats()}


def figures(snap) -> dict:
    return {key: (f.count, f.total) for key, f in snap.stored.items()}


def texts(snap) -> list[str]:
    return [e.text for e in snap.timeline]


def test_send_file_and_inline_text_are_stored_exactly(play, inputs, open_service, tmp_path):
    run, _ = play('name = "send"\nseed = 1\n'
                  '[[step]]\nat = "0s"\nsend = "one.ndjson"\n'
                  '[[step]]\nat = "0.2s"\ntext = \'{"client": "Hooli", "amount": "5"}\'\n')
    run.start()
    snap = run.wait(120)
    assert snap.verdict is Verdict.EXACT and snap.state is RunState.FINISHED
    assert snap.error is None and snap.differences == ()
    assert figures(snap) == plain_ingest(open_service, tmp_path, run.scenario)
    assert snap.stored[("hooli", "")] == Figure(1, Decimal("5"))
    assert snap.expected == snap.stored
    c = snap.counts
    assert (c["accepted"], c["duplicates"], c["rejected"], c["pending"]) == (4, 1, 1, 0)
    assert c["attempts"] == 6 and c["stored"] == 4 and c["restarts"] == 0
    assert "step 1: send one.ndjson" in texts(snap)


def test_faults_fire_in_their_window_and_retries_converge(play, inputs, open_service,
                                                            tmp_path):
    run, _ = play('name = "crash"\nseed = 3\nretries = 1\n'
                  '[[step]]\nat = "0s"\nfault = "mid_transaction:always"\n'
                  '[[step]]\nat = "0s"\nsend = "one.ndjson"\n'
                  '[[step]]\nat = "0.5s"\nfault = ["off"]\n'
                  '[[step]]\nat = "0.5s"\nsend = "two.ndjson"\n')
    run.start()
    snap = run.wait(120)
    assert snap.verdict is Verdict.EXACT
    assert figures(snap) == plain_ingest(open_service, tmp_path, run.scenario)
    c = snap.counts
    assert c["injected"]["mid_transaction"] == 2  # the first try and its one retry
    # all five, the rejected line too: its quarantine row is written in the same transaction
    assert c["failed"] == 5 and c["resent"] >= 5 and c["pending"] == 0
    [window] = snap.fault_windows
    assert (window.point, window.spec) == ("mid_transaction", "mid_transaction:always")
    assert window.start_s < 0.5 <= window.end_s


def test_step_by_step_a_retry_step_sends_the_outbox(play, inputs):
    run, watch = play('name = "retry"\n'
                      '[[step]]\nat = "0s"\nfault = "before_write"\n'
                      '[[step]]\nat = "1s"\nsend = "one.ndjson"\n'
                      '[[step]]\nat = "2s"\nfault = "off"\n'
                      '[[step]]\nat = "3s"\nretry = true\n', speed=1.0)
    run.step()
    run.step()
    snap = watch.until(lambda s: "step 2: sent" in texts(s) and s.counts["pending"] == 5)
    assert snap.state is RunState.PAUSED and snap.next_step == 3
    run.step()
    watch.until(lambda s: s.next_step == 4)
    run.step()  # paused: only the retry step can empty the outbox
    snap = watch.until(lambda s: s.counts["pending"] == 0)
    assert snap.state is RunState.PAUSED and snap.counts["accepted"] == 3
    run.resume()
    snap = run.wait(120)
    assert snap.verdict is Verdict.EXACT and snap.counts["resent"] == 5


def test_pause_holds_the_timeline_and_play_goes_on(play, inputs):
    run, watch = play('name = "pause"\n'
                      '[[step]]\nat = "0s"\nsend = "one.ndjson"\n'
                      '[[step]]\nat = "4s"\nsend = "two.ndjson"\n')
    run.start()
    watch.until(lambda s: "step 1: sent" in texts(s))
    run.pause()
    held = watch.until(lambda s: s.state is RunState.PAUSED)
    seen = watch.changes
    later = watch.until(lambda s: watch.changes >= seen + 10)  # the run goes on publishing
    assert later.state is RunState.PAUSED and later.next_step == held.next_step
    assert later.position_s == held.position_s
    assert held.next_step == 2 and held.position_s < 4
    run.resume()
    snap = run.wait(120)
    assert snap.verdict is Verdict.EXACT and snap.next_step == 3


def test_generate_at_a_rate_and_a_wait_that_holds_the_timeline(play, open_service, tmp_path):
    run, _ = play('name = "gen"\nseed = 5\n'
                  '[[step]]\nat = "0s"\ngenerate = 600\nrate = 1500\nclients = 3\n'
                  '[[step]]\nat = "0s"\nwait = "converged"\ntimeout = "60s"\n'
                  '[[step]]\nat = "0.1s"\ngenerate = 50\n')
    run.start()
    snap = run.wait(120)
    assert snap.verdict is Verdict.EXACT
    assert figures(snap) == plain_ingest(open_service, tmp_path, run.scenario)
    order = texts(snap)
    # the step after the wait starts only once everything sent before it is settled
    converged = next(i for i, t in enumerate(order) if t.startswith("step 2: converged"))
    assert order.index("step 1: sent") < converged < order.index("step 3: generate 50 events")
    assert len({s.stored for s in snap.samples}) > 1  # the charts see it grow


def test_restart_mid_send_converges_exactly(play, open_service, tmp_path):
    run, _ = play('name = "kill"\nseed = 9\n'
                  '[[step]]\nat = "0s"\ngenerate = 6000\nrate = 3000\nclients = 4\n'
                  '[[step]]\nat = "0.5s"\nrestart = true\n')
    run.start()
    snap = run.wait(180)
    assert snap.verdict is Verdict.EXACT, snap.differences
    assert figures(snap) == plain_ingest(open_service, tmp_path, run.scenario)
    c = snap.counts
    assert c["restarts"] == 1
    # at 0.5 s only about 1,500 of the 6,000 were due: the send was under way and went again
    assert "step 1: sending generated:step 1 again from its start" in texts(snap)
    assert c["resent"] == 6000 and c["attempts"] >= 6000
    # what the killed engine committed unheard is found again by the resend
    assert c["duplicates"] >= c["lost_acks"]


def test_http_senders_ride_out_dropped_answers_503s_and_a_restart(play, open_service,
                                                                  tmp_path):
    (tmp_path / "orders.ndjson").write_text(
        "".join(f'{{"client": "shop{i % 7}", "amount": "{i}.25", "currency": "EUR"}}\n'
                for i in range(1200)), encoding="utf-8")
    run, _ = play('name = "http"\nseed = 8\n'
                  '[[step]]\nat = "0s"\nfault = ["drop_response:0.3", "http_503:0.2"]\n'
                  '[[step]]\nat = "0s"\nhttp = "orders.ndjson"\nconcurrency = 4\nbatch = 20\n'
                  '[[step]]\nat = "0.3s"\nrestart = true\n'
                  '[[step]]\nat = "0.4s"\nwait = "converged"\n'
                  '[[step]]\nat = "0.5s"\nfault = "off"\n')
    run.start()
    snap = run.wait(180)
    assert snap.verdict is Verdict.EXACT, snap.differences
    assert figures(snap) == plain_ingest(open_service, tmp_path, run.scenario)
    c = snap.counts
    assert c["restarts"] == 1 and c["requests"] >= 60 and c["http_retries"] >= 1
    # every request went out while the faults were on: the wait held the "off" back
    assert c["injected"]["drop_response"] >= 1 and c["injected"]["http_503"] >= 1
    assert c["requests"] - c["http_retries"] == 60  # 1,200 events, 20 a request


def test_a_row_deleted_behind_the_engines_back_is_a_divergence(play, inputs):
    db = inputs / "run.db"
    run, watch = play('name = "tampered"\n'
                      '[[step]]\nat = "0s"\nsend = "one.ndjson"\n'
                      '[[step]]\nat = "1s"\nwait = "converged"\n', db=db)
    run.step()
    watch.until(lambda s: "step 1: sent" in texts(s))
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM events WHERE id = (SELECT max(id) FROM events)")
    run.resume()
    snap = run.wait(120)
    assert snap.verdict is Verdict.DIVERGED
    assert snap.differences
    assert any("disagree with the stored events" in d or "fewer" in d
               for d in snap.differences)


def test_faults_left_on_past_settle_are_incomplete(play, inputs):
    run, _ = play('name = "stuck"\nsettle = "1s"\nretries = 0\n'
                  '[[step]]\nat = "0s"\nfault = "before_write"\n'
                  '[[step]]\nat = "0s"\nsend = "one.ndjson"\n')
    run.start()
    snap = run.wait(120)
    assert snap.verdict is Verdict.INCOMPLETE
    assert snap.counts["pending"] == 5 and snap.counts["stored"] == 0
    assert snap.fault_windows[0].end_s is None  # still on at the end
    assert any(t.startswith("settle limit reached") for t in texts(snap))


def test_stop_ends_the_run_incomplete(play, inputs):
    run, watch = play('name = "long"\n'
                      '[[step]]\nat = "0s"\nsend = "one.ndjson"\n'
                      '[[step]]\nat = "10m"\nsend = "two.ndjson"\n')
    run.start()
    watch.until(lambda s: "step 1: sent" in texts(s))
    run.stop()
    snap = run.wait(120)
    assert snap.verdict is Verdict.INCOMPLETE and snap.state is RunState.FINISHED
    assert "stopped by the user" in texts(snap) and snap.next_step == 2


def test_a_database_holding_other_events_diverges(play, inputs, open_service):
    db = inputs / "busy.db"
    svc = open_service(db)
    svc.submit_text('{"client": "Old", "amount": "1"}\n', "before").wait()
    svc.close()
    run, _ = play('name = "busy"\n[[step]]\nat = "0s"\nsend = "one.ndjson"\n', db=db)
    run.start()
    snap = run.wait(120)
    assert snap.verdict is Verdict.DIVERGED
    assert snap.stored[("old", "")] == Figure(1, Decimal("1")) and snap.counts["stored"] == 4
    assert snap.differences == ("Old (no currency): none expected, 1 event totalling 1 stored",)
    assert "the database holds 1 event already: they count in what is stored" in texts(snap)


def test_exact_on_both_backends(play, inputs, db, open_service, tmp_path):
    run, _ = play('name = "both"\nseed = 2\nretries = 2\n'
                  '[[step]]\nat = "0s"\nfault = "after_commit:0.5"\n'
                  '[[step]]\nat = "0s"\nsend = "one.ndjson"\n'
                  '[[step]]\nat = "0s"\ngenerate = 300\n'
                  '[[step]]\nat = "1s"\nrestart = true\n'
                  '[[step]]\nat = "2s"\nfault = "off"\n'
                  '[[step]]\nat = "2s"\nsend = "two.ndjson"\n', db=db, speed=4.0)
    run.start()
    snap = run.wait(180)
    assert snap.verdict is Verdict.EXACT, snap.differences
    assert figures(snap) == plain_ingest(open_service, tmp_path, run.scenario)
    assert snap.counts["restarts"] == 1


# faultsim scenario run

def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_json_has_every_key_and_exits_0_when_exact(capsys, inputs, tmp_path):
    path = write(tmp_path, 'name = "cli"\nseed = 4\n'
                           '[[step]]\nat = "0s"\nfault = "after_commit:next=1"\n'
                           '[[step]]\nat = "0s"\nsend = "one.ndjson"\n')
    code, out, _ = cli(capsys, "scenario", "run", path, "--json", "--db", tmp_path / "c.db")
    assert code == 0
    result = json.loads(out)
    assert {"name", "seed", "verdict", "expected", "stored", "differences", "counts",
            "seconds", "timeline", "fault_windows"} <= result.keys()
    assert (result["name"], result["seed"], result["verdict"]) == ("cli", 4, "exact")
    assert result["stored"] == result["expected"]
    assert {"client": "acme", "currency": "USD", "count": 2, "total": "1244.50"} in \
        [{**r, "client": r["client"].casefold()} for r in result["stored"]]
    counts = result["counts"]
    assert {"attempts", "injected", "retries", "lost_acks", "pending", "restarts", "requests",
            "accepted", "duplicates", "rejected", "failed"} <= counts.keys()
    assert counts["injected"] == {"after_commit": 1} and counts["lost_acks"] == 5
    assert result["fault_windows"][0]["point"] == "after_commit"


def test_cli_exits_1_when_diverged(capsys, inputs, tmp_path, open_service):
    db = tmp_path / "had-one.db"
    svc = open_service(db)
    svc.submit_text('{"client": "Old", "amount": "1"}\n', "earlier").wait()  # not the scenario's
    svc.close()
    path = write(tmp_path, 'name = "busy"\n[[step]]\nat = "0s"\nsend = "one.ndjson"\n')
    code, out, _ = cli(capsys, "scenario", "run", path, "--db", db)
    assert code == 1
    assert "verdict: DIVERGED" in out and "Old (no currency): none expected" in out


def test_cli_exits_3_when_incomplete(capsys, inputs, tmp_path):
    path = write(tmp_path, 'name = "stuck"\nsettle = "0.5s"\nretries = 0\n'
                           '[[step]]\nat = "0s"\nfault = "before_write"\n'
                           '[[step]]\nat = "0s"\nsend = "one.ndjson"\n')
    code, out, _ = cli(capsys, "scenario", "run", path, "--json")
    assert code == 3 and json.loads(out)["verdict"] == "incomplete"
    assert json.loads(out)["counts"]["pending"] == 5


def test_cli_exits_2_for_a_bad_file_naming_step_and_line(capsys, inputs, tmp_path):
    path = write(tmp_path, 'name = "typo"\n\n[[step]]\nat = "0s"\nsend = "one.ndjson"\n\n'
                           '[[step]]\nat = "1s"\nfault = "mid_transacton:0.4"\n')
    code, out, err = cli(capsys, "scenario", "run", path)
    assert code == 2 and out == ""
    assert "step 2, line 9" in err and "mid_transacton" in err


def test_cli_exits_1_when_the_database_cannot_be_opened(capsys, inputs, tmp_path):
    db = tmp_path / "not-a-db.db"
    db.write_bytes(b"these bytes are no SQLite database at all, " * 50)
    path = write(tmp_path, 'name = "nowhere"\n[[step]]\nat = "0s"\nsend = "one.ndjson"\n')
    code, out, err = cli(capsys, "scenario", "run", path, "--db", db, "--json")
    assert code == 1 and json.loads(out)["verdict"] == "incomplete"
    assert "not a faultsim database" in err and json.loads(out)["error"] in err
    assert db.read_bytes().startswith(b"these bytes")  # left as it was


def test_cli_report_writes_the_file(capsys, inputs, tmp_path):
    path = write(tmp_path, 'name = "reported <b>"\n[[step]]\nat = "0s"\nsend = "one.ndjson"\n')
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    code, out, _ = cli(capsys, "scenario", "run", path, "--report", report)
    assert code == 0 and f"report: {report}" in out
    html = report.read_text(encoding="utf-8")
    assert "reported &lt;b&gt;" in html and "exact" in html.lower()


def test_cli_list_names_the_builtins(capsys):
    code, out, _ = cli(capsys, "scenario", "list", "--json")
    names = [r["name"] for r in json.loads(out)]
    assert code == 0
    assert {"demo", "ack-storm", "crash-large-file", "kill-restart", "http-dropped-answers",
            "key-reuse"} <= set(names)
