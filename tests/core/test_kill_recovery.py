"""SIGKILL at random moments, restart on the same database and input: the totals converge on
the corpus' ground truth, nothing is counted twice, and SQLite's integrity check passes."""
import json
import random
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from corpus import generate  # noqa: E402

from faultsim_desktop.core.service import IngestService  # noqa: E402


def _ingest(db, data, *extra):
    return subprocess.Popen([sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(data),
                             "--db", str(db), "--json", "--batch-size", "500", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_ingests_converge_on_the_truth(tmp_path):
    data = tmp_path / "corpus.ndjson"
    truth = generate(data, 60_000, seed=5)["truth"]
    db = tmp_path / "kill.db"
    rng = random.Random(11)
    kills = 0
    for round_no in range(16):
        # some rounds fail writes too, so kills also land while the outbox fills and drains
        extra = ["--fault", "mid_transaction:0.3", "--seed", str(round_no)] if round_no % 3 == 1 \
            else []
        p = _ingest(db, data, *extra)
        try:  # a random moment: parsing, mid-batch, commit, draining the outbox...
            p.wait(timeout=rng.uniform(0.2, 1.2))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.communicate(timeout=60)
    final = _ingest(db, data)
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    assert kills >= 10
    with IngestService(db, workers=0) as svc:
        got = {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}
        assert got == {k: (v[0], v[1]) for k, v in truth.items()}
        assert svc.stats() == svc.stats_from_events()
        assert svc.integrity_check() == "ok"
        assert svc.outbox.count() == 0
    assert json.loads(out.splitlines()[-1])["failed"] == 0
