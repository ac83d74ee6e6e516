"""Disk use tables: bytes and files per source app, or per model family, largest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from desktop_app.formatting import human_bytes
from desktop_app.ui.models.library_model import LibraryRole
from desktop_app.ui.models.row_table import RowTableModel

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class DiskUse:
    label: str
    files: int
    size: int


class DiskUseModel(RowTableModel[DiskUse]):
    def __init__(self, first_column: str, parent: Any = None) -> None:
        super().__init__((first_column, "Files", "Size"), parent=parent)

    def set_rows(self, rows: Sequence[DiskUse]) -> None:
        self._reset_rows(sorted(rows, key=lambda r: (-r.size, r.label.casefold())))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.label, f"{row.files:,}", human_bytes(row.size))[col]
        if role == LibraryRole.SORT:
            return (row.label.casefold(), row.files, row.size)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
