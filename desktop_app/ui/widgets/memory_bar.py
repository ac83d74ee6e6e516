"""A horizontal bar: the estimate's parts stacked against the memory this machine has free."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.core.fit import FitEstimate
from desktop_app.formatting import human_bytes
from desktop_app.ui.theme import SEGMENT_COLORS

SEGMENT_LABELS = {
    "weights": "Weights",
    "repack": "Repacked copy",
    "kv_cache": "KV cache",
    "compute": "Compute",
    "overhead": "Runtime",
}


class MemoryBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fit: FitEstimate | None = None
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(400, 34)

    def set_estimate(self, fit: FitEstimate | None) -> None:
        self._fit = fit
        if fit is None:
            self.setToolTip("")
        else:
            m = fit.memory
            parts = [f"{SEGMENT_LABELS[k]}: {human_bytes(getattr(m, k))}" for k in SEGMENT_COLORS]
            self.setToolTip(
                "\n".join(parts)
                + f"\nTotal: {human_bytes(m.total)}\nAvailable now: {human_bytes(fit.available)}"
                + f"\nKept free for the system: {human_bytes(fit.reserve)}"
            )
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(1, 4, -1, -4)
        palette = self.palette()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.alternateBase())
        painter.drawRoundedRect(rect, 5, 5)
        fit = self._fit
        if fit is None:
            return
        m = fit.memory
        # Scale: the larger of what is available and what is needed, so overflow is visible.
        scale_max = max(fit.available, m.total, 1)
        x = rect.left()
        for key, color in SEGMENT_COLORS.items():
            value = getattr(m, key)
            if value <= 0:
                continue
            w = rect.width() * value / scale_max
            painter.setBrush(QColor(color))
            painter.drawRect(QRectF(x, rect.top(), w, rect.height()))
            x += w
        # Available memory, and where the reserve starts.
        pen = QPen(palette.text().color(), 2)
        painter.setPen(pen)
        avail_x = rect.left() + rect.width() * fit.available / scale_max
        painter.drawLine(int(avail_x), int(rect.top() - 3), int(avail_x), int(rect.bottom() + 3))
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setWidth(1)
        painter.setPen(pen)
        reserve_x = rect.left() + rect.width() * max(0, fit.available - fit.reserve) / scale_max
        painter.drawLine(int(reserve_x), int(rect.top()), int(reserve_x), int(rect.bottom()))
