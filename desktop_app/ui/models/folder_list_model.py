"""The folders the library reads, for the Folders dialog: which ones the user may remove.

Only folders the user added can be removed from the library. QuantDesk's own folder is where
downloads and imports go, and other apps' folders are found by themselves (their files can be
hidden instead); both are listed so the user sees everything that is scanned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from desktop_app.ui.models.library_model import source_name
from desktop_app.ui.models.row_table import RowTableModel

Index = QModelIndex | QPersistentModelIndex

REMOVABLE_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class FolderRow:
    path: str
    kind: str  # a source kind: "quantdesk", "folder" (added by the user), "lmstudio", ...

    @property
    def removable(self) -> bool:
        return self.kind == "folder"


def folder_rows(
    own: Iterable[str], added: Iterable[str], other_apps: Iterable[tuple[str, str]]
) -> list[FolderRow]:
    """QuantDesk's folders, then the added ones, then other apps' (kind, folder), each once."""
    rows: dict[str, FolderRow] = {}
    for path in own:
        rows.setdefault(path, FolderRow(path, "quantdesk"))
    for path in added:
        rows.setdefault(path, FolderRow(path, "folder"))
    for kind, path in other_apps:
        if kind not in ("quantdesk", "folder"):
            rows.setdefault(path, FolderRow(path, kind))
    return list(rows.values())


def _role_text(row: FolderRow) -> str:
    if row.kind == "quantdesk":
        return "QuantDesk (downloads and imports)"
    if row.kind == "folder":
        return "Added by you"
    return source_name(row.kind)


def _why_fixed(row: FolderRow) -> str:
    if row.kind == "quantdesk":
        return "QuantDesk's own models folder cannot be removed (change it in Settings)."
    return (
        f"{source_name(row.kind)}'s folder is found by itself; hide its files instead. "
        "QuantDesk never changes another app's files."
    )


class FolderListModel(RowTableModel[FolderRow]):
    HEADERS = ("Folder", "What it is")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(self.HEADERS, parent=parent)

    def set_rows(self, rows: Sequence[FolderRow]) -> None:
        self._reset_rows(rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.path, _role_text(row))[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "Can be removed from the library" if row.removable else _why_fixed(row)
        if role == REMOVABLE_ROLE:
            return row.removable
        if role == PATH_ROLE:
            return row.path
        return None
