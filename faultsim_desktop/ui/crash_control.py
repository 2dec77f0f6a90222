"""The crash switch: the simulated database fault and the retry policy the panel sets."""
from __future__ import annotations

from PySide6.QtCore import Slot

from ..core.faults import DATABASE_POINTS, FaultPoint


class CrashControl:
    """Mixed into MainWindow: turns the chosen fault on and off and keeps the engine's faults and
    retry policy in step with the Crash simulation panel."""

    @Slot(bool)
    def set_crash(self, on: bool) -> None:
        faults = self.service.faults
        if on:
            self._apply_fault_config()
            faults.enabled = True
        else:
            faults.enabled = False
        if on:  # latency slows writes and fails none: the banner must not say crash
            slow = self.fault_panel.fault_point() is FaultPoint.LATENCY
            self.banner.setText(f"DATABASE LATENCY SIMULATION ON: WRITES DELAYED "
                                f"{self.fault_panel.latency.value():,} MS" if slow
                                else "DATABASE CRASH SIMULATION ON")
            self.crash_label.setText("LATENCY ON" if slow else "CRASH ON")
        self.banner.setVisible(on)
        self.crash_label.setVisible(on)
        if self.crash_action.isChecked() != on:
            self.crash_action.setChecked(on)
        if on:
            kind = "latency" if self.fault_panel.fault_point() is FaultPoint.LATENCY else "crash"
            self.show_message(f"Database {kind} simulation ON ({self.fault_panel.describe()}): "
                              f"{self.fault_panel.effect()}")
        else:
            self.show_message("Database crash simulation off: sending pending events again")
            if not self._switching:  # the engine being left must not get new work
                self.bridge.retry_pending()

    def _apply_fault_config(self) -> None:
        faults = self.service.faults
        faults.clear(DATABASE_POINTS)  # the wire faults are the serve switch's
        faults.set(self.fault_panel.fault_point(), self.fault_panel.fault_config())
        faults.reseed(self.fault_panel.seed.value())

    @Slot()
    def _on_fault_panel_changed(self) -> None:
        self.apply_retry_policy()
        self._apply_fault_config()
        idx = self.fault_panel.point.currentIndex()
        for a in self._point_actions.actions():
            a.setChecked(a.data() == idx)

    def apply_retry_policy(self) -> None:
        self.bridge.set_retry_policy(self.fault_panel.retry_policy())
