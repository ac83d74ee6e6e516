"""Delegates that draw controls inside table cells: a progress bar and a push button.

Both only paint what the model says (no state of their own besides the pressed cell), so the
rows stay in the item model and the views stay plain ``QTableView``s.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

Index = QModelIndex | QPersistentModelIndex


class ProgressDelegate(QStyledItemDelegate):
    """Paints ``index.data(fraction_role)`` (0..1) as a progress bar with the display text."""

    def __init__(self, fraction_role: int, parent: Any = None) -> None:
        super().__init__(parent)
        self._role = fraction_role

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        fraction = index.data(self._role)
        if not isinstance(fraction, float):
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 4, -3, -4)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = round(1000 * fraction)
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class ButtonDelegate(QStyledItemDelegate):
    """Paints a push button with the cell's display text; a click on it emits ``clicked``.

    ``enabled_role`` says whether the button can be pressed (the model's tooltip says why
    not). Clicks are taken on release inside the button, like a real button.

    Signals:
        clicked(QModelIndex): the button of this (view-model) index was pressed.
    """

    clicked = Signal(QModelIndex)

    def __init__(self, enabled_role: int, parent: Any = None) -> None:
        super().__init__(parent)
        self._role = enabled_role
        self._pressed: QPersistentModelIndex | None = None

    BUTTON_HEIGHT = 28

    @classmethod
    def button_rect(cls, cell: QRect) -> QRect:
        """The button inside a cell: its width, a button's height, centred vertically."""
        rect = cell.adjusted(4, 3, -4, -3)
        if rect.height() > cls.BUTTON_HEIGHT:
            rect.setTop(rect.top() + (rect.height() - cls.BUTTON_HEIGHT) // 2)
            rect.setHeight(cls.BUTTON_HEIGHT)
        return rect

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        button = QStyleOptionButton()
        button.rect = self.button_rect(option.rect)
        button.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        enabled = bool(index.data(self._role))
        button.state = QStyle.StateFlag.State_Raised
        if enabled:
            button.state |= QStyle.StateFlag.State_Enabled
            if self._pressed is not None and self._pressed == index:
                button.state |= QStyle.StateFlag.State_Sunken
        widget = option.widget
        style = widget.style() if widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> Any:  # noqa: N802
        hint = super().sizeHint(option, index)
        hint.setWidth(max(hint.width() + 24, 96))
        return hint

    def editorEvent(  # noqa: N802 - Qt API
        self, event: QEvent, model: Any, option: QStyleOptionViewItem, index: Index
    ) -> bool:
        if not isinstance(event, QMouseEvent) or event.button() != Qt.MouseButton.LeftButton:
            return super().editorEvent(event, model, option, index)
        inside = self.button_rect(option.rect).contains(event.position().toPoint())
        if event.type() == QEvent.Type.MouseButtonPress:
            if inside and index.data(self._role):
                self._pressed = QPersistentModelIndex(index)
                return True
            return False
        if event.type() == QEvent.Type.MouseButtonRelease:
            pressed, self._pressed = self._pressed, None
            if pressed is not None and pressed == index and inside and index.data(self._role):
                self.clicked.emit(index.sibling(index.row(), index.column()))
                return True
        return False
