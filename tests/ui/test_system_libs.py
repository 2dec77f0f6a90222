"""`faultsim-desktop` under X11 checks, before Qt starts, that the system libraries Qt's xcb
plugin loads are installed; if some are not it names them with their Debian/Ubuntu and Fedora
packages and exits with status 1, instead of Qt's abort that names only the first."""
import os
import re
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest

from faultsim_desktop.ui import app, system_libs
from faultsim_desktop.ui.system_libs import XCB_LIBRARIES, check_before_qt, loadable, uses_xcb

X11 = {"DISPLAY": ":0"}


@pytest.mark.parametrize("env,platform,expected", [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"DISPLAY": ":1", "QT_QPA_PLATFORM": "xcb:nomitshm"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),  # no display: nothing to check against
    ({}, "linux", False),
    ({"DISPLAY": ":0"}, "darwin", False),
    ({"DISPLAY": ":0"}, "win32", False),
])
def test_the_check_runs_only_when_qt_would_use_xcb(env, platform, expected):
    assert uses_xcb(env, platform) is expected


def test_a_missing_library_is_named_with_its_packages():
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"}
    message = check_before_qt(X11, load=lambda soname: soname not in absent)
    assert all(name in message for name in absent)
    debian = re.search(r"Debian, Ubuntu: +sudo apt install (.*)", message).group(1).split()
    fedora = re.search(r"Fedora: +sudo dnf install (.*)", message).group(1).split()
    assert sorted(debian) == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    assert sorted(fedora) == ["xcb-util-cursor", "xcb-util-keysyms", "xcb-util-wm"]
    assert check_before_qt(X11, load=lambda soname: True) is None
    assert check_before_qt({**X11, "QT_QPA_PLATFORM": "offscreen"}, load=lambda s: False) is None
    assert check_before_qt({**X11, "FAULTSIM_SKIP_LIBRARY_CHECK": "1"}, load=lambda s: False) \
        is None


def test_the_window_exits_1_with_the_message_instead_of_starting(monkeypatch, capsys,
                                                                  tmp_path):
    monkeypatch.setenv("DISPLAY", ":0")
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE",
                 "FAULTSIM_SKIP_LIBRARY_CHECK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(system_libs, "loadable", lambda soname: soname != "libxcb-icccm.so.4")
    started = []
    monkeypatch.setattr(app, "make_application", lambda *a: started.append(1))
    shot = tmp_path / "shot.png"
    assert app.main(["--db", str(tmp_path / "a.db"), "--screenshot", str(shot)]) == 1
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4" in err and "sudo apt install libxcb-icccm4" in err
    assert "sudo dnf install xcb-util-wm" in err
    assert started == [] and not shot.exists() and not (tmp_path / "a.db").exists()


def _ldd_of_the_xcb_plugin() -> dict[str, bool]:
    """What the system's dynamic linker says of PySide6's xcb plugin: soname -> found."""
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    assert plugin.is_file(), plugin
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True,
                         env={**os.environ, "LC_ALL": "C"}).stdout
    found = {}
    for m in re.finditer(r"^\s*(\S+) => (not found|\S+)", out, re.MULTILINE):
        found[m.group(1)] = found.get(m.group(1), True) and m.group(2) != "not found"
    return found


def test_the_check_agrees_with_the_dynamic_linker_on_this_machine():
    """Real libraries, real loader: every X11 library PySide6's xcb plugin links is in the
    table, and the check finds missing exactly those that ldd cannot find."""
    ldd = _ldd_of_the_xcb_plugin()
    table = {lib.soname for lib in XCB_LIBRARIES}
    x11 = {name for name in ldd if re.match(r"lib(xcb|X11|xkbcommon)", name)}
    assert x11 and x11 <= table, sorted(x11 - table)
    for soname in table & set(ldd):
        assert loadable(soname) is ldd[soname], soname


def test_the_installed_program_refuses_before_importing_qt(tmp_path):
    """The real check in a fresh process, pointed at one library that exists nowhere."""
    code = (
        "import sys\n"
        "from faultsim_desktop.ui import app, system_libs as s\n"
        "s.XCB_LIBRARIES += (s.SystemLibrary('libfaultsim-absent.so.9', 'libfaultsim-absent9',"
        " 'faultsim-absent'),)\n"
        "rc = app.main(['--screenshot', sys.argv[1]])\n"
        "print('qt imported' if 'PySide6.QtGui' in sys.modules else 'qt not imported')\n"
        "sys.exit(rc)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE",
                        "FAULTSIM_SKIP_LIBRARY_CHECK")}
    env["DISPLAY"] = ":99"
    shot = tmp_path / "shot.png"
    p = subprocess.run([sys.executable, "-c", code, str(shot)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1, p.stderr
    assert p.stdout.strip() == "qt not imported"
    assert "libfaultsim-absent.so.9" in p.stderr and "libfaultsim-absent9" in p.stderr
    assert "could not load the Qt platform plugin" not in p.stderr and not shot.exists()
