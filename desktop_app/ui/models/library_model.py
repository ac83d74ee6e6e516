"""The library table: one row per physical model file, and the proxy that filters it.

Rows are ``LibraryRow``s, frozen and built off the GUI thread by the scan (``library_scanner``),
fit verdict included, so ``data`` only formats. A rescan updates the model by key: rows that
went away are removed, rows still there are updated in place, new rows are appended, so the
selection survives a rescan triggered by a folder change.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QApplication, QStyle

from desktop_app.core.fit import Verdict
from desktop_app.core.library.entries import ModelEntry, SourceKind
from desktop_app.core.quant_types import file_type_by_label
from desktop_app.formatting import human_bytes, human_count
from desktop_app.messages import describe_broken_reason
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex

FIT_CONTEXT = 4096  # the context the fit column is judged at (the Chat page's default)
BROKEN_COLOR = "#8a8a8a"

SOURCE_NAMES: dict[str, str] = {
    "quantdesk": "QuantDesk",
    "hf_cache": "Hugging Face",
    "lmstudio": "LM Studio",
    "ollama": "Ollama",
    "gpt4all": "GPT4All",
    "folder": "Added folder",
}


def source_name(kind: str) -> str:
    return SOURCE_NAMES.get(kind, kind)


@dataclass(frozen=True)
class LibraryRow:
    """One model file as the table shows it; built on a worker thread."""

    entry: ModelEntry
    family_name: str
    verdict: Verdict | None = None  # None for broken files
    fit_total: int | None = None

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def source_kinds(self) -> tuple[SourceKind, ...]:
        return tuple(dict.fromkeys(loc.source_kind for loc in self.entry.paths))

    @property
    def display_name(self) -> str:
        first = self.entry.paths[0]
        # Ollama blobs are named by hash: the manifest's name is the one users know.
        return first.display_name if first.source_kind == "ollama" else self.entry.name

    @property
    def search_text(self) -> str:
        parts = [self.display_name, self.family_name]
        for loc in self.entry.paths:
            parts += [loc.display_name, str(loc.path)]
        return "\n".join(parts).casefold()


class Column(enum.IntEnum):
    NAME = 0
    FAMILY = 1
    QUANT = 2
    SIZE = 3
    PARAMS = 4
    CONTEXT = 5
    ARCH = 6
    SOURCE = 7
    FIT = 8


HEADERS = {
    Column.NAME: "Name",
    Column.FAMILY: "Family",
    Column.QUANT: "Quant",
    Column.SIZE: "Size",
    Column.PARAMS: "Params",
    Column.CONTEXT: "Context",
    Column.ARCH: "Arch",
    Column.SOURCE: "Source",
    Column.FIT: "Fit",
}
_HEADER_TIPS = {
    Column.PARAMS: "Parameters (weights) in the model",
    Column.CONTEXT: "The context length the model was trained for, in tokens",
    Column.ARCH: "Architecture, as llama.cpp names it",
    Column.FIT: f"Whether the model fits in the memory free now, at {FIT_CONTEXT:,} tokens",
}
_NUMERIC = {Column.SIZE, Column.PARAMS, Column.CONTEXT}
# Qt asks for each cell's data thousands of times per paint or sort, and Column(i) is a
# Python-level Enum call (several microseconds on a busy machine): a plain tuple lookup halves
# the Python time of a table repaint.
_COLUMNS = tuple(Column)
_VERDICT_ORDER = {Verdict.FITS: 0, Verdict.TIGHT: 1, Verdict.DOES_NOT_FIT: 2}


class LibraryRole(enum.IntEnum):
    SORT = int(Qt.ItemDataRole.UserRole) + 1  # numbers for size, parameters, context
    KEY = enum.auto()  # ModelEntry.key
    PATH = enum.auto()  # the preferred location, str
    SOURCE_KINDS = enum.auto()  # tuple of SourceKind
    SEARCH_TEXT = enum.auto()  # casefolded name, family and paths
    HIDDEN = enum.auto()  # bool
    BROKEN = enum.auto()  # bool
    OWN = enum.auto()  # bool: in QuantDesk's own folder
    FAMILY_KEY = enum.auto()  # str


class LibraryModel(RowTableModel[LibraryRow]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__([HEADERS[c] for c in Column], _HEADER_TIPS, parent)
        self._row_of: dict[str, int] = {}
        self._hidden: frozenset[str] = frozenset()

    # --- updates ---------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[LibraryRow], max_new: int | None = None) -> int:
        """Bring the model to ``rows`` by key: removals, in-place updates, then appends.

        ``max_new`` caps the rows appended by this call; the result is how many are still
        missing, and calling again with the same rows appends the next ones. A sorting proxy
        places each appended row with Python ``data`` calls (about 0.15 ms a row on a 2-core
        machine), so a thousand at once would stall the GUI thread for 150-250 ms; the page
        appends them in batches, one per event-loop turn.
        """
        new = {r.key: r for r in rows}
        gone = [i for i, r in enumerate(self._rows) if r.key not in new]
        for first, last in reversed(_ranges(gone)):
            self._remove_rows(first, last)
        changed = []
        for i, old in enumerate(self._rows):
            fresh = new.pop(old.key)
            if fresh != old:
                self._rows[i] = fresh
                changed.append(i)
        for first, last in _ranges(changed):
            self._rows_changed(first, last)
        added = list(new.values())[:max_new] if max_new is not None else list(new.values())
        self._append_rows(added)
        self._row_of = {r.key: i for i, r in enumerate(self._rows)}
        return len(new) - len(added)

    def remove_key(self, key: str) -> None:
        row = self._row_of.get(key)
        if row is None:
            return
        self._remove_rows(row, row)
        self._row_of = {r.key: i for i, r in enumerate(self._rows)}

    def set_hidden(self, hidden: Iterable[str]) -> None:
        self._hidden = frozenset(hidden)
        self._rows_changed()

    # --- access ----------------------------------------------------------------------------

    def row_for_key(self, key: str) -> LibraryRow | None:
        row = self._row_of.get(key)
        return self._rows[row] if row is not None else None

    def index_for_key(self, key: str, column: int = 0) -> QModelIndex:
        row = self._row_of.get(key)
        return self.index(row, column) if row is not None else QModelIndex()

    def is_hidden(self, row: LibraryRow) -> bool:
        return any(str(loc.path) in self._hidden for loc in row.entry.paths)

    # --- Qt API ----------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = _COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(row, col)
        if role == LibraryRole.SORT:
            return _sort_value(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.entry.broken_reason is not None or self.is_hidden(row):
                return QColor(BROKEN_COLOR)
            if col == Column.FIT and row.verdict is not None:
                return QColor(verdict_color(row.verdict))
            return None
        if role == Qt.ItemDataRole.FontRole and self.is_hidden(row):
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.DecorationRole and col == Column.NAME:
            if row.entry.broken_reason is not None:
                return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return _role_value(self, row, role)


def _role_value(model: LibraryModel, row: LibraryRow, role: int) -> Any:
    if role == LibraryRole.KEY:
        return row.key
    if role == LibraryRole.PATH:
        return str(row.entry.path)
    if role == LibraryRole.SOURCE_KINDS:
        return row.source_kinds
    if role == LibraryRole.SEARCH_TEXT:
        return row.search_text
    if role == LibraryRole.HIDDEN:
        return model.is_hidden(row)
    if role == LibraryRole.BROKEN:
        return row.entry.broken_reason is not None
    if role == LibraryRole.OWN:
        return row.entry.own
    if role == LibraryRole.FAMILY_KEY:
        return row.entry.family_key
    return None


def display_text(row: LibraryRow, col: Column) -> str:
    facts = row.entry.facts
    if col == Column.NAME:
        return row.display_name
    if col == Column.FAMILY:
        return row.family_name
    if col == Column.QUANT:
        return row.entry.quant_label
    if col == Column.SIZE:
        return human_bytes(row.entry.size)
    if col == Column.SOURCE:
        return ", ".join(source_name(k) for k in row.source_kinds)
    if col == Column.FIT:
        if row.entry.broken_reason is not None:
            return "Broken"
        return verdict_text(row.verdict) if row.verdict is not None else "—"
    if facts is None:
        return "—"
    if col == Column.PARAMS:
        return human_count(facts.parameter_count) if facts.parameter_count else "—"
    if col == Column.CONTEXT:
        return f"{facts.context_length:,}" if facts.context_length else "—"
    return facts.architecture  # Column.ARCH


def _sort_value(row: LibraryRow, col: Column) -> Any:
    facts = row.entry.facts
    if col == Column.SIZE:
        return row.entry.size
    if col == Column.PARAMS:
        return facts.parameter_count if facts is not None else -1
    if col == Column.CONTEXT:
        return (facts.context_length or 0) if facts is not None else -1
    if col == Column.QUANT:
        file_type = file_type_by_label(row.entry.quant_label)
        return -file_type.rank if file_type is not None else 0
    if col == Column.FIT:
        return _VERDICT_ORDER[row.verdict] if row.verdict is not None else len(_VERDICT_ORDER)
    return display_text(row, col).casefold()


def _tooltip(row: LibraryRow) -> str:
    lines = []
    if row.entry.broken_reason is not None:
        lines.append(f"Broken: {describe_broken_reason(row.entry.broken_reason)}")
    lines += [f"{source_name(loc.source_kind)}: {loc.path}" for loc in row.entry.paths]
    return "\n".join(lines)


def _ranges(rows: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]; ``rows`` ascending."""
    out: list[tuple[int, int]] = []
    for r in rows:
        if out and out[-1][1] == r - 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


class LibraryFilterProxy(QSortFilterProxyModel):
    """Filters by text (name, family, paths), source kind and hidden state; sorts numerically.

    Works on any source model with ``LibraryRole`` data, the family tree included (with
    recursive filtering, a family shows when one of its variants matches).
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._kind: str | None = None
        self._show_hidden = False
        self.setSortRole(LibraryRole.SORT)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_text(self, text: str) -> None:
        self._begin_change()
        self._text = text.strip().casefold()
        self._end_change()

    def set_source_kind(self, kind: str | None) -> None:
        self._begin_change()
        self._kind = kind
        self._end_change()

    def set_show_hidden(self, show: bool) -> None:
        self._begin_change()
        self._show_hidden = show
        self._end_change()

    # invalidateFilter() is deprecated from Qt 6.9 (a DeprecationWarning in PySide6); its
    # replacement brackets the change of the filter's state.
    def _begin_change(self) -> None:
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()

    def _end_change(self) -> None:
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - Qt 6.8
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        key = model.data(index, LibraryRole.KEY)
        if key is None:
            return False  # a family row: shown through its variants (recursive filtering)
        if not self._show_hidden and model.data(index, LibraryRole.HIDDEN):
            return False
        if self._kind is not None and self._kind not in model.data(index, LibraryRole.SOURCE_KINDS):
            return False
        return not self._text or self._text in model.data(index, LibraryRole.SEARCH_TEXT)
