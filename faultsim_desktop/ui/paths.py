"""Where the window's resources (samples, icon, desktop entry) are found: inside the package, so
a wheel installed by pip or pipx has them as a source checkout does."""
from __future__ import annotations

import atexit
import contextlib
import os
from importlib import resources
from pathlib import Path

_extracted = contextlib.ExitStack()  # a zipped install's resources, unpacked once per process
atexit.register(_extracted.close)


def resources_dir() -> Path | None:
    """``$FAULTSIM_RESOURCES`` when set to a folder, else ``faultsim_desktop/resources``."""
    env = os.environ.get("FAULTSIM_RESOURCES")
    if env and Path(env).is_dir():
        return Path(env)
    root = resources.files("faultsim_desktop").joinpath("resources")
    if not root.is_dir():
        return None
    if isinstance(root, Path):
        return root
    try:  # a package inside a zip file: the editor and Qt need real files
        return _extracted.enter_context(resources.as_file(root))
    except (OSError, TypeError):
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

