"""The scenarios that ship with faultsim (``faultsim_desktop/resources/scenarios/*.toml``),
by short name: ``faultsim scenario run ack-storm`` and the window's list both use these."""
from __future__ import annotations

from pathlib import Path

from .model import ScenarioError

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "resources" / "scenarios"
# the order a list shows them in: the window's demo first, then one failure after another
_ORDER = ("demo", "ack-storm", "crash-large-file", "kill-restart", "http-dropped-answers",
          "key-reuse")


def builtin_scenarios() -> dict[str, Path]:
    """Short name -> file of every built-in scenario, in the order a list shows them."""
    found = {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}
    ordered = {name: found.pop(name) for name in _ORDER if name in found}
    ordered.update(found)
    return ordered


def resolve(name_or_path: str | Path) -> Path:
    """A scenario file: ``name_or_path`` itself when it is a file, else the built-in of that
    short name; a ScenarioError that lists the built-ins when it is neither."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtins = builtin_scenarios()
    name = str(name_or_path)
    if name in builtins:
        return builtins[name]
    if name.endswith(".toml") or path.parent != Path("."):
        raise ScenarioError(f"no scenario file at {path}")
    raise ScenarioError(f"no scenario file or built-in scenario named {name!r}; the built-in "
                        f"ones are {', '.join(builtins) or '(none installed)'}")
