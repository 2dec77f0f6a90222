"""Kill the window's process (SIGKILL) while it ingests a file, start it again on the same
database and file, and repeat: the totals converge on the ground truth, nothing counted twice.
Half the rounds ingest through a child process (which must die with the window), half in the
window's own process."""

from benchmarks.soak import run_soak


def test_killed_windows_converge_on_the_truth(tmp_path):
    f = run_soak(tmp_path, events=30_000, kills=6, seed=9, gui=True, kills_per_epoch=3)
    assert f["kills"] == 6
    assert f["kills_mid_ingest"] >= 2, f
    assert f["epochs_converged"] == f["epochs"] == 2, f.get("errors")
    assert (f["events_lost"], f["events_counted_twice"], f["integrity_failures"],
            f["left_in_outbox"]) == (0, 0, 0, 0)
