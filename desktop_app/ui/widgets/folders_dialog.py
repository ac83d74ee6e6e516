"""The Library's "Folders…" dialog: every folder the library reads; add or remove your own.

Removing a folder only stops the library from reading it: no file is deleted or moved. The
dialog changes nothing itself; it asks ``LibraryActions`` (which keeps the list in Settings)
and follows its ``folders_changed`` signal, so the list shown is always the one in effect.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui.library_actions import LibraryActions
from desktop_app.ui.models.folder_list_model import FolderListModel, folder_rows


class FoldersDialog(QDialog):
    def __init__(
        self,
        actions: LibraryActions,
        other_apps: Iterable[tuple[str, str]] = (),
        parent: QWidget | None = None,
    ) -> None:
        """``other_apps``: (source kind, folder) of other apps' folders that exist."""
        super().__init__(parent)
        self.setWindowTitle("Model folders")
        self._actions = actions
        self._other_apps = tuple(other_apps)
        intro = QLabel(
            "The library lists the GGUF files in these folders. Folders you added can be "
            "removed: their models leave the list, and the files stay where they are."
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)

        self.model = FolderListModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)

        self.add_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove from library")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.addButton(self.add_button, QDialogButtonBox.ButtonRole.ActionRole)
        box.addButton(self.remove_button, QDialogButtonBox.ButtonRole.ActionRole)
        box.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.view, 1)
        layout.addWidget(box)

        self.add_button.clicked.connect(actions.add_folder)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        actions.folders_changed.connect(self._refresh)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._refresh()
        self.resize(760, 360)

    @Slot()
    def _refresh(self) -> None:
        selected = self.selected_path()
        self.model.set_rows(
            folder_rows([str(self._actions.models_root)], self._actions.folders, self._other_apps)
        )
        if selected is not None:
            self.select_path(selected)
        self._update_buttons()

    def select_path(self, path: str) -> None:
        for row, folder in enumerate(self.model.rows()):
            if folder.path == path:
                self.view.selectRow(row)
                return

    def selected_path(self) -> str | None:
        rows = self.view.selectionModel().selectedRows()
        folder = self.model.row_for(rows[0]) if rows else None
        return folder.path if folder is not None else None

    @Slot()
    def _update_buttons(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        folder = self.model.row_for(rows[0]) if rows else None
        self.remove_button.setEnabled(folder is not None and folder.removable)
        self.remove_button.setToolTip(
            "" if folder is None else str(self.model.data(rows[0], Qt.ItemDataRole.ToolTipRole))
        )

    @Slot()
    def _on_remove_clicked(self) -> None:
        # No confirmation: nothing on disk changes, and adding the folder back undoes it.
        path = self.selected_path()
        if path is not None:
            self._actions.remove_folder(path)
