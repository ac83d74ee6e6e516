"""A flat table of rows: the Qt plumbing every one-row-per-thing table model shares.

A subclass keeps its rows in ``self._rows`` (display order) and writes ``data`` (and ``flags``
or ``setData`` when cells are editable); the row and column counts, the horizontal header texts
and their tooltips come from here, as do the row changes the models make in the same shape:
a reset for a new list, an in-place update when the same rows come back with new values, a
ranged ``dataChanged``, appends and removals. Rows are meant to be values (frozen dataclasses,
tuples) that are swapped whole; a model whose rows are records it edits in place (Convert's job
list) calls ``_rows_changed`` after each edit.

Headers are horizontal only: a table that labels its rows overrides ``headerData`` for the
vertical orientation and leaves the rest to this class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex
RowT = TypeVar("RowT")
ColT = TypeVar("ColT", bound=int)  # a column: a plain int or an IntEnum member


class RowTableModel(QAbstractTableModel, Generic[RowT]):
    """``headers``: one text per column; ``header_tips``: tooltips by column (any subset)."""

    def __init__(
        self,
        headers: Sequence[str],
        header_tips: Mapping[ColT, str] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._headers = tuple(headers)
        # Plain int keys: headerData looks a section up without an Enum call.
        self._header_tips = {int(col): tip for col, tip in (header_tips or {}).items()}
        self._rows: list[RowT] = []

    # --- access ----------------------------------------------------------------------------

    def rows(self) -> tuple[RowT, ...]:
        return tuple(self._rows)

    def row_at(self, row: int) -> RowT:
        return self._rows[row]

    def row_for(self, index: Index) -> RowT | None:
        """The row behind ``index``; None for an invalid index or a row that is gone."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._rows[index.row()]

    # --- changes (GUI thread) --------------------------------------------------------------

    def _reset_rows(self, rows: Iterable[RowT]) -> None:
        # A new list replaces the old one: a reset is the honest signal (selection is lost).
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def _replace_rows(self, rows: Sequence[RowT], identity: Callable[[RowT], object]) -> None:
        """Same rows by ``identity`` in the same order: new values in place, so selection and
        scroll position survive; any other list: a reset."""
        if [identity(r) for r in rows] == [identity(r) for r in self._rows]:
            self._rows = list(rows)
            self._rows_changed()
            return
        self._reset_rows(rows)

    def _rows_changed(self, first: int = 0, last: int | None = None) -> None:
        """Every column of rows ``first`` to ``last`` (default: the last row) is to repaint."""
        last = len(self._rows) - 1 if last is None else last
        if 0 <= first <= last:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._headers) - 1))

    def _append_rows(self, rows: Sequence[RowT]) -> None:
        if not rows:
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def _remove_rows(self, first: int, last: int) -> None:
        self.beginRemoveRows(QModelIndex(), first, last)
        del self._rows[first : last + 1]
        self.endRemoveRows()

    # --- Qt API ----------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt API
        return 0 if parent.isValid() else len(self._headers)

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._headers):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._header_tips.get(section)
        return None
