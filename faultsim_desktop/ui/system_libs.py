"""Before Qt starts on Linux under X11: are the system libraries Qt's xcb platform plugin loads
there? Without them Qt aborts with "could not load the Qt platform plugin" and names only the
first one missing; this check names them all, with the packages that provide them.

No Qt here: it runs before PySide6 is imported.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable, Mapping, NamedTuple


class SystemLibrary(NamedTuple):
    soname: str
    debian: str  # the Debian and Ubuntu package
    fedora: str


# What PySide6's plugins/platforms/libqxcb.so, libQt6XcbQpa and libQt6Gui need from the system
# (readelf -d / ldd on them), beyond the C and C++ runtimes every desktop has.
XCB_LIBRARIES: tuple[SystemLibrary, ...] = (
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLibrary("libX11.so.6", "libx11-6", "libX11"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLibrary("libGL.so.1", "libgl1", "libglvnd-glx"),
    SystemLibrary("libEGL.so.1", "libegl1", "libglvnd-egl"),
    SystemLibrary("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    SystemLibrary("libfreetype.so.6", "libfreetype6", "freetype"),
    SystemLibrary("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    SystemLibrary("libgthread-2.0.so.0", "libglib2.0-0", "glib2"),
    SystemLibrary("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)
SKIP_VARIABLE = "FAULTSIM_SKIP_LIBRARY_CHECK"


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname``, as Qt's plugin loader would."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt is about to use its xcb plugin: Linux, QT_QPA_PLATFORM unset or xcb, an X
    display, and no Wayland session that Qt would prefer."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux") or not env.get("DISPLAY"):
        return False
    # "xcb", "xcb:option=value" or a fallback list "wayland;xcb": the first one is tried first
    wanted = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if wanted:
        return wanted == "xcb"
    return not (env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland")


def missing_libraries(load: Callable[[str], bool] | None = None) -> list[SystemLibrary]:
    load = load or loadable
    return [lib for lib in XCB_LIBRARIES if not load(lib.soname)]


def _unique(names) -> list[str]:
    return list(dict.fromkeys(names))


def missing_message(missing: list[SystemLibrary]) -> str:
    return "\n".join([
        "faultsim-desktop: the window cannot start: Qt's X11 (xcb) platform plugin needs system "
        "libraries that are not installed:",
        "  " + ", ".join(lib.soname for lib in missing),
        "Install them, then start faultsim-desktop again:",
        "  Debian, Ubuntu:  sudo apt install " + " ".join(_unique(m.debian for m in missing)),
        "  Fedora:          sudo dnf install " + " ".join(_unique(m.fedora for m in missing)),
        "(The faultsim command line needs none of them. To let Qt try anyway, set "
        f"{SKIP_VARIABLE}=1.)",
    ])


def check_before_qt(environ: Mapping[str, str] | None = None,
                    load: Callable[[str], bool] | None = None) -> str | None:
    """The message to print instead of starting Qt, or None when the window can start."""
    env = os.environ if environ is None else environ
    if env.get(SKIP_VARIABLE) or not uses_xcb(env):
        return None
    missing = missing_libraries(load)
    return missing_message(missing) if missing else None
