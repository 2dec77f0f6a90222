"""Where the window's resources (samples, icon, demo script) are found."""
from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path | None:
    """``$FAULTSIM_RESOURCES``, else the project's ``resources/`` (a source or editable install)."""
    env = os.environ.get("FAULTSIM_RESOURCES")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "resources")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def samples_dir() -> Path | None:
    base = resources_dir()
    return base / "samples" if base is not None else None


def icon_path() -> Path | None:
    base = resources_dir()
    if base is None:
        return None
    for name in ("faultsim-desktop.svg", "faultsim-desktop.png"):
        if (base / name).is_file():
            return base / name
    return None
