"""`faultsim-desktop --db PATH --demo --screenshot FILE.png` plays the demo in a database of its
own, writes a PNG of its result, exits 0 only when the demo's totals were exact."""
import json
import os
import subprocess
import sys

from PySide6.QtGui import QImage

from faultsim_desktop.core.service import IngestService


def test_demo_screenshot(tmp_path):
    out = tmp_path / "shot.png"
    db = tmp_path / "demo.db"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               FAULTSIM_SETTINGS=str(tmp_path / "settings.ini"))
    proc = subprocess.run([sys.executable, "-m", "faultsim_desktop", "--db", str(db), "--demo",
                           "--workers", "0", "--screenshot", str(out)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 600
    with IngestService(db, workers=0) as svc:  # the demo never wrote into the user's database
        assert svc.stats() == [] and svc.counts()["events"] == 0
        assert svc.outbox.count() == 0


# Runs the program's main() with the picture's moment noted: what the counters, the clients
# panel and the log showed when the window was rendered.
_NOTING_MAIN = """
import json, sys
from faultsim_desktop.ui import app
real, seen = app.screenshot, {}

def noting(window, path):
    seen.update(counters=window.counters_label.text(), clients=window.clients.summary.text(),
                log=window.log_view.model.rowCount())
    return real(window, path)

app.screenshot = noting
rc = app.main(sys.argv[1:])
print(json.dumps(dict(seen, rc=rc)))
"""


def test_a_screenshot_of_a_file_shows_it_ingested_and_totalled(tmp_path):
    """`faultsim-desktop --db PATH FILE --screenshot OUT.png` pictures the window once the file
    is in: the counters, the clients panel, the log and the database agree (the file is large
    enough to go through the child ingest, whose totals the window reads once a second)."""
    from benchmarks.corpus import generate
    from faultsim_desktop.ui.bridge import CHILD_INGEST_BYTES

    feed = tmp_path / "feed.jsonl"
    generate(feed, 100_000, seed=5, shape="feed")
    assert feed.stat().st_size >= CHILD_INGEST_BYTES
    db, out = tmp_path / "w.db", tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               FAULTSIM_SETTINGS=str(tmp_path / "settings.ini"))
    proc = subprocess.run([sys.executable, "-c", _NOTING_MAIN, "--db", str(db), "--screenshot",
                           str(out), str(feed)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.splitlines()[-1])
    with IngestService(db, workers=0) as svc:
        events, rows = svc.counts()["events"], len(svc.stats())
    assert seen["rc"] == 0 and events > 70_000  # the whole file: it was not cut short
    assert seen["counters"].startswith(f"accepted {events:,} · duplicates ")
    assert seen["clients"].endswith(f", {rows:,} client/currency rows, {events:,} events")
    assert seen["log"] == 100_000  # every outcome of the file, none still on its way
    assert not QImage(str(out)).isNull()
