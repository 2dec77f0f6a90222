"""The layers hold, checked (as napari does) rather than remembered: core/ is free of Qt, the
shells reach storage only through the service, and no core module imports itself in a circle."""
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
    assert "shells reach storage only through the service KEPT" in p.stdout


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_among_core_modules():
    import grimp

    # imports under TYPE_CHECKING only name types for annotations; they never run
    graph = grimp.build_graph("faultsim_desktop", exclude_type_checking_imports=True,
                              cache_dir=None)
    core = {m for m in graph.modules if m.startswith("faultsim_desktop.core")}
    assert "faultsim_desktop.core.storage.sqlite" in core  # the graph sees the package
    edges = {m: graph.find_modules_directly_imported_by(m) & core for m in core}
    assert _cycles(edges) == []


def test_the_engine_runs_without_qt_loaded():
    code = ("import sys, faultsim_desktop.core.service, faultsim_desktop.cli;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'shiboken6')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]"
