"""Table model for the "what fits" grid: well-known models x quantizations, coloured by verdict."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.core.size_guide import GUIDE_QUANTS, GuideCell, ReferenceModel
from desktop_app.formatting import human_bytes, human_count
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex


class SizeGuideModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[ReferenceModel, list[GuideCell]]] = []

    def set_rows(self, rows: list[tuple[ReferenceModel, list[GuideCell]]]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(GUIDE_QUANTS)

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return GUIDE_QUANTS[section]
        if 0 <= section < len(self._rows):
            model = self._rows[section][0]
            return f"{model.name} ({human_count(model.parameters)})"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        model, cells = self._rows[index.row()]
        cell = cells[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return human_bytes(cell.total)
        if role == Qt.ItemDataRole.BackgroundRole:
            color = QColor(verdict_color(cell.verdict))
            color.setAlpha(70)
            return color
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{model.name} at {cell.quant}: about {human_bytes(cell.total)} — " + (
                verdict_text(cell.verdict).lower()
            )
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None
