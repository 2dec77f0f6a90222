"""Compiled copies of the engine's hot modules, and the plain Python they are built from.

The modules in ``COMPILED_MODULES`` are the ones every event passes through (the workers'
parse, normalize and fingerprint pass, and the writer's inserts). ``setup.py`` compiles each
of them with Cython from its own ``.py`` file, unchanged, and records the SHA-256 of every
source it compiled in ``_compiled.json`` beside this module. Python imports an extension
module in preference to the ``.py`` of the same name; this module makes that choice safe:

- a compiled module whose source has changed since the build (an editable checkout edited
  without ``pip install -e .`` again) is stale, and its ``.py`` is imported instead;
- ``FAULTSIM_PURE_PYTHON=1`` imports every ``.py``, compiled or not (to compare the two, or
  to debug with tracebacks that show source lines);
- a build without Cython or a C compiler installs the ``.py`` files only.

Either way the code that runs is the code in the ``.py`` files: compiled or not, every result
is the same, only the speed differs. ``status()`` says which is in use.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

__all__ = ["COMPILED_MODULES", "PURE_PYTHON_ENV", "install", "status", "summary"]

# setup.py reads this tuple (without importing the package): one list for both sides
COMPILED_MODULES = (
    "faultsim_desktop.core.fastlane",
    "faultsim_desktop.core.fingerprint",
    "faultsim_desktop.core.pipeline",
    "faultsim_desktop.core.counters",
    "faultsim_desktop.core.writer",
    "faultsim_desktop.core.normalize",
    "faultsim_desktop.core.normalize.amounts",
    "faultsim_desktop.core.normalize.fields",
    "faultsim_desktop.core.normalize.times",
    "faultsim_desktop.core.storage.sqlite",
)
PURE_PYTHON_ENV = "FAULTSIM_PURE_PYTHON"
MANIFEST = "_compiled.json"

_ROOT = Path(__file__).resolve().parent  # the faultsim_desktop package folder
_log = logging.getLogger(__name__)
_status: dict[str, str] = {}


def source_path(name: str, root: Path = _ROOT) -> Path:
    """The ``.py`` file of a module of ``COMPILED_MODULES`` (a package's ``__init__.py``)."""
    parts = name.split(".")[1:]
    folder = root.joinpath(*parts)
    return folder / "__init__.py" if _ROOT.joinpath(*parts).is_dir() else folder.with_suffix(".py")


def extension_path(name: str, root: Path = _ROOT) -> Path | None:
    """The compiled module built for ``name``, if there is one."""
    py = source_path(name, root)
    stem = "__init__" if py.name == "__init__.py" else py.stem
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = py.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decide(root: Path = _ROOT, pure: bool = False) -> dict[str, str]:
    """For every module of ``COMPILED_MODULES``: ``"compiled"``, or why its source is used
    (``"source: not built"``, ``"source: stale, rebuild with pip install -e ."``,
    ``"source: FAULTSIM_PURE_PYTHON"``)."""
    try:
        built = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        built = {}
    if not isinstance(built, dict):
        built = {}
    decided = {}
    for name in COMPILED_MODULES:
        if extension_path(name, root) is None:
            decided[name] = "source: not built"
        elif pure:
            decided[name] = f"source: {PURE_PYTHON_ENV}"
        elif built.get(name) != source_hash(source_path(name, root)):
            decided[name] = "source: stale, rebuild with pip install -e ."
        else:
            decided[name] = "compiled"
    return decided


class _SourceFinder:
    """Finds the ``.py`` file of the modules whose compiled copy must not be used."""

    def __init__(self, sources: dict[str, Path]):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        py = self.sources.get(fullname)
        if py is None:
            return None
        package = [str(py.parent)] if py.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(fullname, py,
                                                      submodule_search_locations=package)


def install() -> dict[str, str]:
    """Decide once per process (the package's ``__init__`` calls this before anything else
    is imported) and route every module that must not run compiled to its ``.py``."""
    if _status:
        return _status
    _status.update(decide(pure=os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")))
    sources = {name: source_path(name) for name, how in _status.items()
               if how != "compiled" and extension_path(name) is not None}
    if sources:
        sys.meta_path.insert(0, _SourceFinder(sources))
        stale = sorted(n for n in sources if "stale" in _status[n])
        if stale:
            _log.warning("compiled modules older than their source, running the source "
                         "instead: %s (rebuild with pip install -e .)", ", ".join(stale))
    return _status


def status() -> dict[str, str]:
    """Module name -> ``"compiled"`` or why its ``.py`` runs instead."""
    return dict(install())


def summary() -> str:
    """One line for the About box and the benchmarks: how the engine runs."""
    decided = status()
    compiled = sum(how == "compiled" for how in decided.values())
    if compiled == len(decided):
        return f"compiled ({compiled} of {len(decided)} engine modules)"
    reasons = sorted({how.removeprefix("source: ") for how in decided.values()
                      if how != "compiled"})
    if compiled == 0:
        return f"plain Python ({'; '.join(reasons)})"
    return (f"partly compiled ({compiled} of {len(decided)} engine modules; the rest "
            f"{'; '.join(reasons)})")
