"""Item models for quantization facts: every llama.cpp file type, optionally priced for a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.core.fit import Verdict
from desktop_app.core.quant_types import FileType
from desktop_app.formatting import human_bytes
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class QuantRow:
    file_type: FileType
    # Filled when a model is open: its size and fit at this type.
    total: int | None = None
    verdict: Verdict | None = None
    is_current: bool = False


class QuantTableModel(RowTableModel[QuantRow]):
    """Rows: file types, best quality first. Columns below."""

    COLUMNS = ("Type", "Bits/weight", "Family", "Memory", "Fit", "What it means")
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(self.COLUMNS, parent=parent)

    def set_rows(self, rows: Sequence[QuantRow]) -> None:
        # Same types, new prices: update in place so selection and scroll survive.
        self._replace_rows(rows, lambda r: r.file_type)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
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
