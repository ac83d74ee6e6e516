"""The files picked for a comparison, and what the plan says about each.

Rows are paths in the order the user picked them (that order is the pane order). Until the
plan arrives (it reads every header, off the GUI thread) only the file name is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop_app.core.compare.results import RunPlan, VariantInfo
from desktop_app.core.fit import Verdict
from desktop_app.formatting import human_bytes
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("File", "Quant", "Size", "Memory", "Fit")
MAX_VARIANTS = 4


class _Pick(NamedTuple):
    path: str
    info: VariantInfo | None  # None until a plan for exactly these paths arrives


class CompareVariantsModel(RowTableModel[_Pick]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(COLUMNS, parent=parent)
        self._reference = -1

    # --- editing ----------------------------------------------------------------------------

    @property
    def paths(self) -> list[str]:
        return [pick.path for pick in self._rows]

    def set_paths(self, paths: Sequence[str]) -> None:
        """Replace the list (duplicates dropped, at most MAX_VARIANTS kept)."""
        unique = list(dict.fromkeys(paths))[:MAX_VARIANTS]
        self._reference = -1
        self._reset_rows(_Pick(path, None) for path in unique)

    def add_path(self, path: str) -> bool:
        if path in self.paths or len(self._rows) >= MAX_VARIANTS:
            return False
        self._append_rows([_Pick(path, None)])
        return True

    def remove_row(self, row: int) -> None:
        if not 0 <= row < len(self._rows):
            return
        if self._reference == row:
            self._reference = -1
        elif self._reference > row:
            self._reference -= 1
        self._remove_rows(row, row)

    def set_plan(self, plan: RunPlan | None) -> None:
        """Facts from a plan for exactly these paths (a stale plan is ignored)."""
        if plan is None:
            self._rows = [_Pick(pick.path, None) for pick in self._rows]
            self._reference = -1
        elif [v.path for v in plan.variants] == self.paths:
            self._rows = [_Pick(v.path, v) for v in plan.variants]
            self._reference = plan.reference
        else:
            return
        self._rows_changed()

    @property
    def reference(self) -> int:
        return self._reference

    def info_at(self, row: int) -> VariantInfo | None:
        return self._rows[row].info

    # --- Qt ---------------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        pick = self.row_for(index)
        if pick is None:
            return None
        row, col = index.row(), index.column()
        path, info = pick
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
