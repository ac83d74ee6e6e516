"""The files picked for a comparison, and what the plan says about each.

Rows are paths in the order the user picked them (that order is the pane order). Until the
plan arrives (it reads every header, off the GUI thread) only the file name is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop_app.core.compare.results import RunPlan, VariantInfo
from desktop_app.core.fit import Verdict
from desktop_app.formatting import human_bytes
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("File", "Quant", "Size", "Memory", "Fit")
MAX_VARIANTS = 4


class CompareVariantsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._paths: list[str] = []
        self._infos: list[VariantInfo | None] = []
        self._reference = -1

    # --- editing ----------------------------------------------------------------------------

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def set_paths(self, paths: Sequence[str]) -> None:
        """Replace the list (duplicates dropped, at most MAX_VARIANTS kept)."""
        unique = list(dict.fromkeys(paths))[:MAX_VARIANTS]
        self.beginResetModel()
        self._paths = unique
        self._infos = [None] * len(unique)
        self._reference = -1
        self.endResetModel()

    def add_path(self, path: str) -> bool:
        if path in self._paths or len(self._paths) >= MAX_VARIANTS:
            return False
        row = len(self._paths)
        self.beginInsertRows(QModelIndex(), row, row)
        self._paths.append(path)
        self._infos.append(None)
        self.endInsertRows()
        return True

    def remove_row(self, row: int) -> None:
        if not 0 <= row < len(self._paths):
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._paths[row]
        del self._infos[row]
        if self._reference == row:
            self._reference = -1
        elif self._reference > row:
            self._reference -= 1
        self.endRemoveRows()

    def set_plan(self, plan: RunPlan | None) -> None:
        """Facts from a plan for exactly these paths (a stale plan is ignored)."""
        if plan is None:
            self._infos = [None] * len(self._paths)
            self._reference = -1
        elif [v.path for v in plan.variants] == self._paths:
            self._infos = list(plan.variants)
            self._reference = plan.reference
        else:
            return
        if self._paths:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._paths) - 1, len(COLUMNS) - 1)
            )

    @property
    def reference(self) -> int:
        return self._reference

    def info_at(self, row: int) -> VariantInfo | None:
        return self._infos[row]

    # --- Qt ---------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self._paths)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._paths):
            return None
        row, col = index.row(), index.column()
        path, info = self._paths[row], self._infos[row]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return Path(path).name
            if info is None:
                return "…"
            if col == 1:
                return info.label
            if col == 2:
                return human_bytes(info.size_bytes)
            if col == 3:
                return human_bytes(info.estimated_bytes)
            return verdict_text(Verdict(info.fit))
        if role == Qt.ItemDataRole.ToolTipRole:
            if info is not None and col == 3:
                return "Estimated memory to load it at the chosen context"
            return path
        if role == Qt.ItemDataRole.FontRole and row == self._reference:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and info is not None:
            return QColor(verdict_color(Verdict(info.fit)))
        return None
