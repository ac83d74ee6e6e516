"""Discover's result list: hub search results, cached ones, or the curated offline catalog.

Rows are frozen ``DiscoverRow``s built off the GUI thread from the core's ``ModelSummary`` or
``CatalogEntry``; ``data`` only formats. Everything in a row came from the hub (or the catalog
file) and is shown as plain text: Qt renders a cell's text literally, and the one tooltip that
quotes hub text escapes it, since a tooltip that looks like HTML would be rendered as HTML.
The proxy sorts numerically (downloads, likes, date, parameters) and filters by author.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from desktop_app.core.hub.catalog import CatalogEntry
from desktop_app.core.hub.client import ModelSummary
from desktop_app.core.hub.names import escape_for_display
from desktop_app.formatting import human_count
from desktop_app.ui.models.row_table import RowTableModel

Index = QModelIndex | QPersistentModelIndex


class Origin(enum.StrEnum):
    HUB = "hub"  # a live answer
    CACHE = "cache"  # a saved answer (offline, or the hub unreachable)
    CATALOG = "catalog"  # the curated list shipped with the app


@dataclass(frozen=True)
class DiscoverRow:
    repo_id: str  # validated by the core: ASCII owner/name
    author: str  # escaped for display (no bidi overrides or control characters)
    downloads: int | None
    likes: int | None
    updated: str | None  # ISO 8601 date and time
    parameters: int | None
    family: str | None  # catalog rows only
    license: str | None
    gated: bool
    origin: Origin

    @property
    def name(self) -> str:
        return self.repo_id.split("/", 1)[1]


def row_from_summary(summary: ModelSummary, origin: Origin) -> DiscoverRow:
    return DiscoverRow(
        repo_id=summary.repo_id,
        author=escape_for_display(summary.author or summary.repo_id.split("/")[0], 80),
        downloads=summary.downloads,
        likes=summary.likes,
        updated=summary.last_modified,
        parameters=summary.parameters,
        family=None,
        license=None,
        gated=summary.gated,
        origin=origin,
    )


def row_from_catalog(entry: CatalogEntry) -> DiscoverRow:
    return DiscoverRow(
        repo_id=entry.repo_id,
        author=entry.publisher,
        downloads=None,
        likes=None,
        updated=None,
        parameters=entry.parameter_count,
        family=entry.family,
        license=entry.license,
        gated=False,
        origin=Origin.CATALOG,
    )


class Column(enum.IntEnum):
    NAME = 0
    AUTHOR = 1
    DOWNLOADS = 2
    LIKES = 3
    UPDATED = 4
    PARAMS = 5


HEADERS = {
    Column.NAME: "Name",
    Column.AUTHOR: "Author",
    Column.DOWNLOADS: "Downloads",
    Column.LIKES: "Likes",
    Column.UPDATED: "Updated",
    Column.PARAMS: "Params",
}
_HEADER_TIPS = {
    Column.DOWNLOADS: "Downloads in the last 30 days, as the hub counts them",
    Column.PARAMS: "Parameters (weights), from the hub's reading of the GGUF file",
}
_NUMERIC = {Column.DOWNLOADS, Column.LIKES, Column.PARAMS}


class DiscoverRole(enum.IntEnum):
    SORT = int(Qt.ItemDataRole.UserRole) + 1
    REPO_ID = enum.auto()
    AUTHOR = enum.auto()  # the publisher, as in the repo id (for the author filter)
    ORIGIN = enum.auto()


class DiscoverModel(RowTableModel[DiscoverRow]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__([HEADERS[c] for c in Column], _HEADER_TIPS, parent)

    def set_rows(self, rows: Sequence[DiscoverRow]) -> None:
        # A new search replaces the whole list.
        self._reset_rows(rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(row, col)
        if role == DiscoverRole.SORT:
            return _sort_value(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == DiscoverRole.REPO_ID:
            return row.repo_id
        if role == DiscoverRole.AUTHOR:
            return row.repo_id.split("/")[0]
        if role == DiscoverRole.ORIGIN:
            return row.origin.value
        return None


def display_text(row: DiscoverRow, col: Column) -> str:
    if col == Column.NAME:
        return row.name + ("  (gated)" if row.gated else "")
    if col == Column.AUTHOR:
        return row.author
    if col == Column.DOWNLOADS:
        return human_count(row.downloads) if row.downloads is not None else "—"
    if col == Column.LIKES:
        return f"{row.likes:,}" if row.likes is not None else "—"
    if col == Column.UPDATED:
        return row.updated[:10] if row.updated else "—"
    return human_count(row.parameters) if row.parameters else "—"  # Column.PARAMS


def _sort_value(row: DiscoverRow, col: Column) -> Any:
    if col == Column.DOWNLOADS:
        return row.downloads if row.downloads is not None else -1
    if col == Column.LIKES:
        return row.likes if row.likes is not None else -1
    if col == Column.PARAMS:
        return row.parameters or -1
    if col == Column.UPDATED:
        return row.updated or ""
    return display_text(row, col).casefold()


def _tooltip(row: DiscoverRow) -> str:
    lines = [row.repo_id]
    if row.family:
        lines.append(f"Family: {row.family}")
    if row.license:
        lines.append(f"License: {row.license}")
    if row.origin is Origin.CATALOG:
        lines.append("From QuantDesk's curated catalog")
    elif row.origin is Origin.CACHE:
        lines.append("From results saved earlier")
    if row.gated:
        lines.append("Gated: accept the terms on huggingface.co and use your token")
    # Rich text with every piece escaped: plain text that happened to look like HTML would
    # otherwise be rendered by the tooltip.
    return "<p style='white-space:pre'>" + "<br>".join(map(html.escape, lines)) + "</p>"


class DiscoverProxy(QSortFilterProxyModel):
    """Sorts on ``DiscoverRole.SORT``; filters by publisher (exact, any case)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._author = ""
        self.setSortRole(DiscoverRole.SORT)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_author(self, author: str) -> None:
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
        self._author = author.strip().casefold()
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - Qt 6.8
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        if not self._author:
            return True
        model = self.sourceModel()
        author = model.data(model.index(source_row, 0, source_parent), DiscoverRole.AUTHOR)
        return isinstance(author, str) and author.casefold() == self._author
