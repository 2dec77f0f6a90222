"""SIGKILL at random moments, restart on the same database and input: the totals converge on
the corpus' ground truth, nothing is counted twice, and SQLite's integrity check passes.

The kills land while parsing, mid-batch, during commits (500-event batches, some slowed down),
while the pending outbox fills and while it drains. Every six kills the soak starts again on a
fresh database, so kills keep landing before everything is stored. ``benchmarks/soak.py`` runs
hundreds.
"""
from benchmarks.soak import run_soak


def test_thirty_kills_converge_on_the_truth(tmp_path):
    f = run_soak(tmp_path, events=30_000, kills=30, seed=5)
    assert f["kills"] == 30
    assert f["crashed_with_error"] == 0, f.get("errors")
    # the kills landed in every phase (placed on observed rows, so these counts are certain)
    assert f["kills_mid_ingest"] >= 5, f
    assert f["kills_mid_outbox"] >= 3, f
    assert f["kills_in_fault_rounds"] >= 10, f
    # and every database converged on the truth
    assert f["epochs_converged"] == f["epochs"] == 5, f.get("errors")
    assert (f["events_lost"], f["events_counted_twice"], f["integrity_failures"],
            f["left_in_outbox"]) == (0, 0, 0, 0)
