"""core/ stays free of Qt, checked (as napari does) rather than remembered."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contract_holds():
    exe = Path(sys.executable).parent / "lint-imports"
    p = subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "core is Qt-free KEPT" in p.stdout


def test_the_engine_runs_without_qt_loaded():
    code = ("import sys, faultsim_desktop.core.service, faultsim_desktop.cli;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'shiboken6')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]"
