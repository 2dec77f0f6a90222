"""Dropping JSON files onto the window ingests them."""
from decimal import Decimal

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def test_dropping_a_file_ingests_it(qtbot, window, tmp_path):
    path = tmp_path / "dropped.ndjson"
    path.write_text('{"client": "dropped", "amount": "2.50"}\n{"client": "dropped", "amount": 1}\n',
                    encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=30_000) as blocker:
        QApplication.sendEvent(window, drop)
    assert blocker.args[0].accepted == 2
    qtbot.waitUntil(lambda: [(r.client, r.count, r.total) for r in window.clients.model.rows()]
                    == [("dropped", 2, Decimal("3.50"))])


def test_dragging_something_that_is_not_a_file_is_refused(qtbot, window):
    mime = QMimeData()
    mime.setText("just text")
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()
