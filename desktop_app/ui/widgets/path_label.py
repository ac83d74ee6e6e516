"""A file or folder path shown in whatever width the layout gives it.

A plain QLabel asks for its whole text as its minimum width, so one long path (a home folder
several levels deep, a network share) makes a whole page scroll sideways. This label elides the
middle instead, where a path's least telling part usually is: the start (which drive or home)
and the end (the file or folder itself) stay readable. The whole path is in the tooltip and is
what "Copy path" copies.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 12  # narrower than this, an elided path says nothing


class PathLabel(QLabel):
    def __init__(self, path: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        copy = QAction("Copy path", self)
        copy.triggered.connect(self._on_copy_triggered)
        self.addAction(copy)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._path = ""
        self.set_path(path)

    def path(self) -> str:
        return self._path

    def set_path(self, path: str) -> None:
        self._path = path
        self.setToolTip(path)
        self.updateGeometry()
        self._elide()

    def sizeHint(self) -> QSize:
        height = super().sizeHint().height()
        return QSize(self.fontMetrics().horizontalAdvance(self._path) + 2, height)

    def minimumSizeHint(self) -> QSize:
        height = super().minimumSizeHint().height()
        return QSize(self.fontMetrics().averageCharWidth() * MIN_CHARS, height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(self._path, Qt.TextElideMode.ElideMiddle, width))

    def _on_copy_triggered(self) -> None:
        QGuiApplication.clipboard().setText(self._path)
