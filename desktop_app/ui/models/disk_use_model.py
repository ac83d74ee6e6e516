"""Disk use tables: bytes and files per source app, or per model family, largest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from desktop_app.formatting import human_bytes
from desktop_app.ui.models.library_model import LibraryRole

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class DiskUse:
    label: str
    files: int
    size: int


class DiskUseModel(QAbstractTableModel):
    def __init__(self, first_column: str, parent: Any = None) -> None:
        super().__init__(parent)
        self._headers = (first_column, "Files", "Size")
        self._rows: list[DiskUse] = []

    def set_rows(self, rows: Sequence[DiskUse]) -> None:
        self.beginResetModel()
        self._rows = sorted(rows, key=lambda r: (-r.size, r.label.casefold()))
        self.endResetModel()

    def rows(self) -> tuple[DiskUse, ...]:
        return tuple(self._rows)

    def row_at(self, row: int) -> DiskUse:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else 3

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < 3
        ):
            return self._headers[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.label, f"{row.files:,}", human_bytes(row.size))[col]
        if role == LibraryRole.SORT:
            return (row.label.casefold(), row.files, row.size)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
