"""The window's docks, their default layout, and what settings keep of the window."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, Qt, Slot
from PySide6.QtWidgets import QDockWidget, QWidget

from .database_switching import remembered

STATE_VERSION = 1


class WindowLayout:
    """Mixed into MainWindow: its docks follow the window's size until the user arranges them,
    and the arrangement, the chart's choices and the database outlive a restart."""

    def _dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}Dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _default_layout(self) -> None:
        d = self.docks
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["editor"])
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["faults"])
        self.splitDockWidget(d["editor"], d["faults"], Qt.Orientation.Vertical)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["clients"])
        self.tabifyDockWidget(d["clients"], d["explain"])  # explaining raises it
        d["clients"].raise_()
        # The bottom docks become one tab group grown from the log alone: tabbing docks that
        # lay side by side left a second "Live log | Quarantine" tab bar behind, which a
        # 1024x640 window showed over the log's column headers.
        bottom = [d[name] for name in ("log", "quarantine", "pending", "imports")]
        for dock in bottom:
            self.removeDockWidget(dock)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, bottom[0])
        for before, dock in zip(bottom, bottom[1:]):
            self.tabifyDockWidget(before, dock)
        for dock in bottom:
            dock.show()
        d["log"].raise_()
        self._docks_follow_window = True
        self._size_docks()

    def _size_docks(self) -> None:
        """Dock sizes in proportion to the window, so the default layout suits any screen: the
        charts keep the most room, the clients table room for its columns."""
        d = self.docks
        w, h = self.width(), self.height()
        clients = min(self.clients.preferred_width(), max(240, 280 + (w - 1024) * 0.6))
        self.resizeDocks([d["editor"], d["clients"]], [int(min(460, max(300, w * 0.2))),
                                                       int(clients)], Qt.Orientation.Horizontal)
        self.resizeDocks([d["editor"], d["faults"]], [h, h], Qt.Orientation.Vertical)
        self.resizeDocks([d["log"]], [int(min(300, max(190, h * 0.27)))], Qt.Orientation.Vertical)

    @Slot()
    def _stop_following(self, *args) -> None:
        self._docks_follow_window = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._docks_follow_window:
            self._size_docks()

    def eventFilter(self, watched, event) -> bool:
        if watched is self and event.type() == QEvent.Type.MouseButtonPress \
                and self.childAt(event.position().toPoint()) is None:
            self._docks_follow_window = False  # the user drags a separator: keep their sizes
        return super().eventFilter(watched, event)

    def restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = self.screen().availableGeometry()  # a first start on a small screen fits it
            self.resize(min(1440, screen.width()), min(900, screen.height()))
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty() \
                and self.restoreState(state, STATE_VERSION):
            # the user's own arrangement stays as it was; the default one keeps following
            self._docks_follow_window = s.value("window/docksFollow") in (True, "true")
        self.fault_panel.load(s)
        metric = s.value("chart/metric")
        if isinstance(metric, str) and self.totals_chart.metric_box.findText(metric) >= 0:
            self.totals_chart.metric_box.setCurrentText(metric)
        try:
            self.totals_chart.top_n.setValue(int(s.value("chart/top_n", 15)))
        except (TypeError, ValueError):
            pass

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(STATE_VERSION))
        s.setValue("window/docksFollow", self._docks_follow_window)
        if self.remember_db:
            s.setValue("database/last", remembered(self.user_db_path()))
        self.fault_panel.save(s)
        s.setValue("chart/metric", self.totals_chart.metric_box.currentText())
        s.setValue("chart/top_n", self.totals_chart.top_n.value())
        s.sync()
