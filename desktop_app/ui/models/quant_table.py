"""Item models for quantization facts: every llama.cpp file type, optionally priced for a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.core.fit import Verdict
from desktop_app.core.quant_types import FileType
from desktop_app.formatting import human_bytes
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class QuantRow:
    file_type: FileType
    # Filled when a model is open: its size and fit at this type.
    total: int | None = None
    verdict: Verdict | None = None
    is_current: bool = False


class QuantTableModel(QAbstractTableModel):
    """Rows: file types, best quality first. Columns below."""

    COLUMNS = ("Type", "Bits/weight", "Family", "Memory", "Fit", "What it means")
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[QuantRow] = []

    def set_rows(self, rows: Sequence[QuantRow]) -> None:
        if len(rows) == len(self._rows) and all(
            a.file_type == b.file_type for a, b in zip(rows, self._rows, strict=True)
        ):
            # Same types, new prices: update in place so selection and scroll survive.
            self._rows = list(rows)
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, 5))
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> QuantRow:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        ft, col = row.file_type, index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return ft.label + ("  (this file)" if row.is_current else "")
            if col == 1:
                return f"{ft.bits_per_weight:.2f}"
            if col == 2:
                imatrix = ", needs imatrix" if ft.needs_imatrix else ""
                return f"{ft.family.value}{imatrix}"
            if col == 3:
                return human_bytes(row.total) if row.total is not None else "—"
            if col == 4:
                return verdict_text(row.verdict) if row.verdict is not None else "—"
            if col == 5:
                return ft.note
        if role == self.SORT_ROLE:
            return (-ft.rank, ft.bits_per_weight, row.total or 0, row.verdict or "", 0, ft.note)[
                col
            ]
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and row.verdict is not None:
            return QColor(verdict_color(row.verdict))
        if role == Qt.ItemDataRole.FontRole and row.is_current:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return ft.note
        return None
