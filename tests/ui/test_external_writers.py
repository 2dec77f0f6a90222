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


def _cli_ingest(path, db, text):
    path.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(path),
                           "--db", str(db), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_an_idle_window_reads_its_totals_again_only_when_something_committed(
        qtbot, window, tmp_path, monkeypatch):
    """Every external refresh asks the database whether anything committed; an unchanged
    database is not read again (a read costs hundreds of ms with tens of thousands of
    clients), and a commit from another process still shows at the next refresh."""
    from faultsim_desktop.ui import bridge as bridge_module

    svc = window.service
    _cli_ingest(tmp_path / "first.ndjson", svc.db_path, '{"client": "a", "amount": "1.00"}\n')
    qtbot.waitUntil(lambda: totals(window) == {("a", None): (1, Decimal("1.00"))},
                    timeout=10_000)
    reads, asks = [], []
    real_stats, real_version = svc.stats, svc.data_version
    monkeypatch.setattr(svc, "stats", lambda: reads.append(1) or real_stats())
    monkeypatch.setattr(svc, "data_version", lambda: asks.append(1) or real_version())
    monkeypatch.setattr(bridge_module, "EXTERNAL_REFRESH_S", 0.1)
    qtbot.waitUntil(lambda: len(asks) >= 5, timeout=10_000)
    assert reads == []
    assert totals(window) == {("a", None): (1, Decimal("1.00"))}

    _cli_ingest(tmp_path / "second.ndjson", svc.db_path,
                '{"client": "b", "amount": "2.50"}\n{"client": "a", "amount": "0.25"}\n')
    qtbot.waitUntil(lambda: totals(window) == {("a", None): (2, Decimal("1.25")),
                                               ("b", None): (1, Decimal("2.50"))},
                    timeout=10_000)
    assert len(reads) == 1
    asked = len(asks)
    qtbot.waitUntil(lambda: len(asks) >= asked + 5, timeout=10_000)
    assert len(reads) == 1

    window.bridge.refresh()  # asked for: read whatever the version says
    qtbot.waitUntil(lambda: len(reads) == 2, timeout=10_000)


def test_a_mapping_another_writer_saves_shows_in_the_clients_table(qtbot, window, monkeypatch):
    """Another service saves a mapping just after this window's service read its mappings: the
    read of the totals that the commit triggers finds that read still fresh, and the Schema
    column catches up once it has aged, with nothing else committed."""
    from PySide6.QtCore import Qt

    from faultsim_desktop.core.schemas import new_mapping
    from faultsim_desktop.core.service import IngestService
    from faultsim_desktop.ui import bridge as bridge_module
    from faultsim_desktop.ui.clients import SCHEMA_COLUMN

    with IngestService(window.service.db_path, workers=0) as other:
        other.submit_text('{"client": "acme", "amount": "1.00"}', source="other").wait()
        qtbot.waitUntil(lambda: totals(window) == {("acme", None): (1, Decimal("1.00"))},
                        timeout=10_000)
        monkeypatch.setattr(bridge_module, "EXTERNAL_REFRESH_S", 0.1)
        window.service.registry()  # the window's service has just read the mappings
        other.save_mapping(new_mapping("acme", "amount"))
        model = window.clients.model

        def schema() -> str:
            return model.data(model.index(0, SCHEMA_COLUMN), Qt.ItemDataRole.DisplayRole)
        qtbot.waitUntil(lambda: schema() == "v1", timeout=10_000)
