"""Events another process stores in the window's database (the CLI, a server) show up in the
window's totals without anything being sent from the window."""
import subprocess
import sys
from decimal import Decimal

from .helpers import totals


def test_cli_ingest_into_the_open_database_shows_up(qtbot, window, tmp_path):
    data = tmp_path / "from-cli.ndjson"
    data.write_text('{"client": "cli", "amount": "1.10"}\n{"client": "cli", "amount": "2.20"}\n',
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(data),
                           "--db", str(window.service.db_path), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: totals(window) == {("cli", None): (2, Decimal("3.30"))},
                    timeout=10_000)
