"""The Convert page's checklist of target types: one checkable row per type the app can write.

Each row shows the estimated output size for the current source, bits per weight, whether it
would fit this machine's memory at the page's context length, and the type's quality note.
Rows that cannot be made right now are disabled with the reason as tooltip: types that need an
importance matrix while none is chosen, everything when the source is already quantized and
re-quantizing was not allowed, and the source's own type. Disabled rows keep their check mark
but are never reported by ``checked_labels``.

Signals:
    checked_changed(): the set of usable checked types changed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont

from desktop_app.core.fit import Verdict
from desktop_app.core.quant_types import FileType
from desktop_app.formatting import human_bytes
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex

NEEDS_IMATRIX_TIP = "Needs an importance matrix: choose an imatrix file to enable this type."
REQUANTIZE_TIP = (
    "The source is already quantized. Tick “Allow re-quantizing” to make this type anyway "
    "(it loses more quality than starting from the F16 original)."
)
SOURCE_TYPE_TIP = "This is the source's own type."


class Column(enum.IntEnum):
    TYPE = 0
    SIZE = 1
    BPW = 2
    FIT = 3
    NOTE = 4


_HEADERS = {
    Column.TYPE: "Type",
    Column.SIZE: "Est. size",
    Column.BPW: "Bits/w",
    Column.FIT: "Fit",
    Column.NOTE: "Quality",
}
_HEADER_TIPS = {
    Column.FIT: "Whether the model at this type fits the memory free now, at this context",
}
LABEL_ROLE = int(Qt.ItemDataRole.UserRole) + 1


@dataclass
class _Row:
    file_type: FileType
    checked: bool = False
    size: int | None = None
    verdict: Verdict | None = None


class TargetTypesModel(RowTableModel[_Row]):
    checked_changed = Signal()

    def __init__(self, file_types: Iterable[FileType], parent: Any = None) -> None:
        super().__init__([_HEADERS[c] for c in Column], _HEADER_TIPS, parent)
        self._rows = [_Row(ft) for ft in file_types]
        self._has_imatrix = False
        self._source_quantized = False
        self._allow_requantize = False
        self._source_type: str | None = None
        self._fit_context = 0

    # --- state from the page -----------------------------------------------------------------

    def set_checked(self, labels: Iterable[str]) -> None:
        wanted = set(labels)
        for row in self._rows:
            row.checked = row.file_type.label in wanted
        self._changed_all()

    def set_estimates(
        self, sizes: Mapping[str, int], verdicts: Mapping[str, Verdict], fit_context: int
    ) -> None:
        """Sizes and fit verdicts for the current source (empty mappings: no source)."""
        for row in self._rows:
            row.size = sizes.get(row.file_type.label)
            row.verdict = verdicts.get(row.file_type.label)
        if fit_context != self._fit_context:
            self._fit_context = fit_context
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, Column.FIT, Column.FIT)
        self._changed_all(emit_checked=False)

    def set_source_type(self, label: str | None, quantized: bool) -> None:
        self._source_type = label
        self._source_quantized = quantized
        self._changed_all()

    def set_imatrix_available(self, available: bool) -> None:
        self._has_imatrix = available
        self._changed_all()

    def set_allow_requantize(self, allow: bool) -> None:
        self._allow_requantize = allow
        self._changed_all()

    # --- queries -----------------------------------------------------------------------------

    def file_type_at(self, row: int) -> FileType:
        return self._rows[row].file_type

    def row_of(self, label: str) -> int:
        return next(i for i, r in enumerate(self._rows) if r.file_type.label == label)

    def disabled_reason(self, row: int) -> str | None:
        ft = self._rows[row].file_type
        if self._source_type is not None and ft.label == self._source_type:
            return SOURCE_TYPE_TIP
        if self._source_quantized and not self._allow_requantize:
            return REQUANTIZE_TIP
        if ft.needs_imatrix and not self._has_imatrix:
            return NEEDS_IMATRIX_TIP
        return None

    def checked_labels(self) -> list[str]:
        """The checked types that can be made now, best quality first."""
        return [
            r.file_type.label
            for i, r in enumerate(self._rows)
            if r.checked and self.disabled_reason(i) is None
        ]

    def estimated_bytes(self, labels: Iterable[str]) -> int | None:
        sizes = {r.file_type.label: r.size for r in self._rows}
        picked = [sizes.get(label) for label in labels]
        if any(s is None for s in picked):
            return None
        return sum(s for s in picked if s is not None)

    # --- Qt model API ------------------------------------------------------------------------

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and section == Column.FIT
            and self._fit_context
        ):
            return f"Fit at {self._fit_context:,}"
        return super().headerData(section, orientation, role)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsSelectable
        if self.disabled_reason(index.row()) is None:
            flags |= Qt.ItemFlag.ItemIsEnabled
            if index.column() == Column.TYPE:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = Column(index.column())
        ft = row.file_type
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.CheckStateRole and col == Column.TYPE:
            return Qt.CheckState.Checked if row.checked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = self.disabled_reason(index.row())
            return reason if reason is not None else ft.note
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.FIT and row.verdict:
            return QColor(verdict_color(row.verdict))
        if role == Qt.ItemDataRole.FontRole and col in (Column.TYPE, Column.FIT):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (Column.SIZE, Column.BPW):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == LABEL_ROLE:
            return ft.label
        return None

    def _display(self, row: _Row, col: Column) -> str:
        ft = row.file_type
        if col == Column.TYPE:
            if ft.label == self._source_type:
                return f"{ft.label}  (source)"
            return ft.label
        if col == Column.SIZE:
            return human_bytes(row.size) if row.size is not None else "—"
        if col == Column.BPW:
            return f"{ft.bits_per_weight:.2f}"
        if col == Column.FIT:
            return verdict_text(row.verdict) if row.verdict is not None else "—"
        return f"Needs imatrix. {ft.note}" if ft.needs_imatrix else ft.note

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if (
            role != Qt.ItemDataRole.CheckStateRole
            or not index.isValid()
            or index.column() != Column.TYPE
            or self.disabled_reason(index.row()) is not None
        ):
            return False
        state = value.value if isinstance(value, Qt.CheckState) else value
        self._rows[index.row()].checked = state == Qt.CheckState.Checked.value
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.checked_changed.emit()
        return True

    def _changed_all(self, emit_checked: bool = True) -> None:
        self._rows_changed()
        if emit_checked:
            self.checked_changed.emit()
