"""Table model for the "what fits" grid: well-known models x quantizations, coloured by verdict."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.core.size_guide import GUIDE_QUANTS, GuideCell, ReferenceModel
from desktop_app.formatting import human_bytes, human_count
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex


class SizeGuideModel(RowTableModel[tuple[ReferenceModel, list[GuideCell]]]):
    # Columns are quantizations, rows are models: the vertical header names the model.

    def __init__(self, parent: Any = None) -> None:
        super().__init__(GUIDE_QUANTS, parent=parent)

    def set_rows(self, rows: list[tuple[ReferenceModel, list[GuideCell]]]) -> None:
        self._reset_rows(rows)

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Vertical:
            if role != Qt.ItemDataRole.DisplayRole or not 0 <= section < len(self._rows):
                return None
            model = self._rows[section][0]
            return f"{model.name} ({human_count(model.parameters)})"
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        found = self.row_for(index)
        if found is None:
            return None
        model, cells = found
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
