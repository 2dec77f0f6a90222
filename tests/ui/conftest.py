"""Window fixtures: a fresh database and private settings per test; nothing left running."""
import pytest
from PySide6.QtCore import QSettings

from .helpers import assert_nothing_running, open_window

# The offscreen platform plugin (not our code) says this whenever a dock or the main window
# sets its size limits; every other Qt warning still fails a test.
_OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/ui/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(_OFFSCREEN_NOISE))


@pytest.fixture
def settings(tmp_path):
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    yield s
    s.sync()


@pytest.fixture
def make_window(qtbot, db_path, settings):
    windows = []

    def make(**kwargs):
        w = open_window(qtbot, db_path, settings, **kwargs)
        windows.append(w)
        return w
    yield make
    for w in windows:
        w.close()
        assert_nothing_running(w)


@pytest.fixture
def window(make_window):
    return make_window()
