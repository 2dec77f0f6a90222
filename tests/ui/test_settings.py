"""Layout, window size, last database and fault settings are remembered (in the test's own file)."""
from faultsim_desktop.core.faults import FaultMode, FaultPoint

from .helpers import open_window


def test_settings_survive_a_restart(qtbot, make_window, settings, db_path):
    first = make_window()
    first.resize(1000, 700)
    size = first.size()
    first.docks["clients"].hide()
    first.fault_panel.set_fault(FaultPoint.BEFORE_WRITE, FaultMode.PROBABILITY, probability=0.4)
    first.fault_panel.seed.setValue(1234)
    first.crash_action.setChecked(True)
    first.close()
    assert settings.value("database/last") == str(db_path)

    second = open_window(qtbot, db_path, settings, restore=True)
    try:
        assert second.height() == size.height()  # the offscreen screen is 800 wide: Qt clamps the width
        assert not second.docks["clients"].isVisible()
        assert second.fault_panel.fault_point() is FaultPoint.BEFORE_WRITE
        assert second.fault_panel.fault_config().mode is FaultMode.PROBABILITY
        assert second.fault_panel.seed.value() == 1234
        assert not second.crash_action.isChecked()  # the switch always starts off
        assert not second.service.faults.enabled
    finally:
        second.close()
