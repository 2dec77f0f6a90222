"""`faultsim-desktop --db PATH --demo --screenshot FILE.png` plays the demo in a database of its
own, writes a PNG of its result, exits 0 only when the demo's totals were exact."""
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
