"""The faultsim command line: what a user types and what it prints."""
import csv
import io
import json
import subprocess
import sys

import pytest

from faultsim_desktop.cli import main

MESSY = (
    '{"customerId": "acme", "price": "$1,234.50"}\n'
    '{"source": "Globex", "cost": "1.234,50 €"}\n'
    '{"price": "$1,234.50", "customerId": "acme"}\n'   # a retry, keys reordered
    '{"client": "a", "amount": NaN}\n'
    '{"client_id": "ACME", "amount_cents": 1000}\n'
)


@pytest.fixture
def events_file(tmp_path):
    p = tmp_path / "events.ndjson"
    p.write_text(MESSY, encoding="utf-8")
    return p


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_json_summary(capsys, db_path, events_file):
    code, out, _ = run(capsys, "ingest", events_file, "--db", db_path, "--json")
    assert code == 0
    assert json.loads(out) == {"received": 5, "accepted": 3, "duplicates": 1, "rejected": 1,
                               "failed": 0, "pending": 0}


def test_ingest_twice_is_all_duplicates(capsys, db_path, events_file):
    run(capsys, "ingest", events_file, "--db", db_path, "--json")
    _, out, _ = run(capsys, "ingest", events_file, "--db", db_path, "--json")
    assert json.loads(out)["duplicates"] == 4 and json.loads(out)["accepted"] == 0


def test_readable_summary_without_json(capsys, db_path, events_file):
    code, out, err = run(capsys, "ingest", events_file, "--db", db_path)
    assert code == 0 and "accepted 3" in out and "quarantine" in err


def test_stats_json_and_csv(capsys, db_path, events_file):
    run(capsys, "ingest", events_file, "--db", db_path, "--json")
    _, out, _ = run(capsys, "stats", "--db", db_path, "--json")
    rows = {(r["client"], r["currency"]): (r["count"], r["total"]) for r in json.loads(out)}
    assert rows == {("acme", "USD"): (1, "1234.50"), ("acme", None): (1, "10.00"),
                    ("Globex", "EUR"): (1, "1234.50")}
    _, out, _ = run(capsys, "stats", "--db", db_path, "--csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert table[0].keys() == {"client", "currency", "count", "total", "first_seen", "last_seen"}
    assert sorted(r["total"] for r in table) == ["10.00", "1234.50", "1234.50"]


def test_faults_with_retries_still_exact(capsys, db_path, events_file):
    code, out, _ = run(capsys, "ingest", events_file, "--db", db_path, "--json",
                       "--fault", "before_write:next=2", "--fault", "after_commit:next=1",
                       "--seed", "3", "--retries", "5")
    assert code == 0
    s = json.loads(out)
    assert s["failed"] == 0 and s["accepted"] + s["duplicates"] == 4
    _, out, _ = run(capsys, "stats", "--db", db_path, "--json")
    assert sum(r["count"] for r in json.loads(out)) == 3


def test_pending_left_gives_nonzero_exit_then_retry_drains(capsys, db_path, events_file):
    code, out, _ = run(capsys, "ingest", events_file, "--db", db_path, "--json",
                       "--fault", "mid_transaction:always", "--retries", "1")
    assert code == 3 and json.loads(out)["pending"] == 5
    _, out, _ = run(capsys, "pending", "list", "--db", db_path, "--json")
    assert len(json.loads(out)) == 5
    code, out, _ = run(capsys, "pending", "retry", "--db", db_path, "--json")
    assert code == 0 and json.loads(out)["accepted"] == 3 and json.loads(out)["pending"] == 0


def test_quarantine_list_show_resubmit(capsys, db_path, events_file):
    run(capsys, "ingest", events_file, "--db", db_path, "--json")
    _, out, _ = run(capsys, "quarantine", "list", "--db", db_path, "--json")
    [entry] = json.loads(out)
    assert "NaN" in entry["reason"] and entry["line"] == 4
    _, out, _ = run(capsys, "quarantine", "show", entry["id"], "--db", db_path)
    assert '"amount": NaN' in out
    code, out, _ = run(capsys, "quarantine", "resubmit", entry["id"], "--db", db_path,
                       "--text", '{"client": "a", "amount": 7}', "--json")
    assert code == 0 and json.loads(out)["accepted"] == 1
    _, out, _ = run(capsys, "quarantine", "list", "--db", db_path, "--json")
    assert json.loads(out) == []


def test_export_csv_neutralizes_formulas_and_ndjson_roundtrips(capsys, db_path, tmp_path):
    f = tmp_path / "evil.ndjson"
    f.write_text('{"client": "=HYPERLINK(\\"x\\")", "amount": -5}\n')
    run(capsys, "ingest", f, "--db", db_path, "--json")
    _, out, _ = run(capsys, "export", "--db", db_path, "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["client"] == "'=HYPERLINK(\"x\")" and row["amount"] == "-5"
    _, out, _ = run(capsys, "export", "--db", db_path, "--format", "ndjson")
    assert json.loads(out)["client"] == '=HYPERLINK("x")'


def test_log_shows_recent_outcomes(capsys, db_path, events_file):
    run(capsys, "ingest", events_file, "--db", db_path, "--json")
    _, out, _ = run(capsys, "log", "--db", db_path, "--json")
    outcomes = [json.loads(line)["outcome"] for line in out.splitlines()]
    assert outcomes == ["accepted", "accepted", "duplicate", "rejected", "accepted"]


def test_stdin_and_usage_errors(db_path):
    p = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", "-", "--db",
                        str(db_path), "--json"], input=MESSY, capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["received"] == 5
    p = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", "--fault",
                        "nowhere:1", "x"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown fault point" in p.stderr


def test_the_installed_faultsim_program_ingests_and_reports(tmp_path):
    """The console script as installed (faultsim_desktop.cli:run, which tunes the collector
    for an ingest), not main() called in this process."""
    from pathlib import Path

    program = Path(sys.executable).parent / "faultsim"
    assert program.exists(), f"{program} is not installed (pip install -e .)"
    data = tmp_path / "in.ndjson"
    data.write_text(MESSY, encoding="utf-8")
    db = tmp_path / "a.db"
    p = subprocess.run([str(program), "ingest", str(data), "--db", str(db), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"received": 5, "accepted": 3, "duplicates": 1,
                                    "rejected": 1, "failed": 0, "pending": 0}
    p = subprocess.run([str(program), "stats", "--db", str(db), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert {(r["client"], r["currency"], r["total"]) for r in json.loads(p.stdout)} == {
        ("acme", "USD", "1234.50"), ("acme", None, "10.00"), ("Globex", "EUR", "1234.50")}


def test_missing_file_and_corrupt_db_are_clear_errors(capsys, tmp_path):
    code, _, err = run(capsys, "ingest", tmp_path / "nope.json", "--db", tmp_path / "a.db")
    assert code == 1 and "nope.json" in err and "Traceback" not in err
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    code, _, err = run(capsys, "stats", "--db", bad)
    assert code == 1 and "bad.db" in err and "corrupt" in err


def test_reading_commands_do_not_create_a_database_on_a_typo(capsys, tmp_path):
    typo = tmp_path / "tpyo.db"
    for argv in (["stats"], ["log"], ["quarantine", "list"], ["pending", "list"], ["export"]):
        code, _, err = run(capsys, *argv, "--db", typo)
        assert code == 1 and "no database" in err and str(typo) in err
    assert not typo.exists()


def test_quarantine_list_shows_every_open_entry_not_the_first_thousand(capsys, db_path, tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text("".join(f'{{"client": "c{i}", "amount": "not money {i}"}}\n'
                           for i in range(1_234)), encoding="utf-8")
    run(capsys, "ingest", bad, "--db", db_path)
    _, out, _ = run(capsys, "quarantine", "list", "--db", db_path, "--json")
    entries = json.loads(out)
    assert len(entries) == 1_234
    assert [e["line"] for e in entries] == list(range(1, 1_235))  # oldest first, none twice
    _, out, _ = run(capsys, "quarantine", "list", "--db", db_path)
    assert sum("not money" in line for line in out.splitlines()) == 1_234
