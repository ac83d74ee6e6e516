"""An ordered list of folders to edit: add, remove, move up and down. The first one is special.

The list lives in a ``QStringListModel`` (the view only shows it); ``folders_edited`` carries the
whole new list after each change, for the owner to store.

Signals:
    folders_edited(list): the folders, in order, after a change made here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QStringListModel, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class FolderList(QWidget):
    folders_edited = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QStringListModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setMinimumHeight(120)
        self.view.setMaximumHeight(200)
        self.view.setUniformItemSizes(True)
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.add_button.setToolTip("Add a folder where you keep GGUF files")
        self.up_button.setToolTip("The first folder receives downloads, conversions and imports")
        buttons = QVBoxLayout()
        for button in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.view, 1)
        row.addLayout(buttons)

        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.up_button.clicked.connect(self._on_up_clicked)
        self.down_button.clicked.connect(self._on_down_clicked)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self._update_buttons()

    def folders(self) -> list[str]:
        return list(self.model.stringList())

    def set_folders(self, folders: list[str]) -> None:
        """Show ``folders`` (no signal); the selection follows the same folder if still there."""
        if folders == self.folders():
            return
        current = self._current_row()
        kept = self.folders()[current] if current is not None else None
        self.model.setStringList(folders)
        if kept in folders:
            self._select(folders.index(kept))
        self._update_buttons()

    def add_folder(self, folder: str) -> bool:
        """Append ``folder`` unless it is already listed; whether the list changed."""
        folder = str(Path(folder))
        if not folder or folder in self.folders():
            if folder in self.folders():
                self._select(self.folders().index(folder))
            return False
        row = self.model.rowCount()
        self.model.insertRows(row, 1)
        self.model.setData(self.model.index(row), folder)
        self._select(row)
        self._edited()
        return True

    def _current_row(self) -> int | None:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else None

    def _select(self, row: int) -> None:
        self.view.selectionModel().setCurrentIndex(
            self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
        )

    def _move(self, step: int) -> None:
        row = self._current_row()
        if row is None or not 0 <= row + step < self.model.rowCount():
            return
        # moveRows' destination is the row the item goes *before* (in the old numbering).
        dest = row + step + (1 if step > 0 else 0)
        self.model.moveRows(QModelIndex(), row, 1, QModelIndex(), dest)
        self._select(row + step)
        self._edited()

    def _edited(self) -> None:
        self._update_buttons()
        self.folders_edited.emit(self.folders())

    def _update_buttons(self) -> None:
        row = self._current_row()
        count = self.model.rowCount()
        self.remove_button.setEnabled(row is not None and count > 1)
        self.remove_button.setToolTip(
            "" if count > 1 else "QuantDesk needs at least one folder for its own models"
        )
        self.up_button.setEnabled(row is not None and row > 0)
        self.down_button.setEnabled(row is not None and row < count - 1)

    @Slot()
    def _on_add_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a models folder", str(Path.home()))
        if folder:
            self.add_folder(folder)

    @Slot()
    def _on_remove_clicked(self) -> None:
        row = self._current_row()
        if row is None or self.model.rowCount() <= 1:
            return
        self.model.removeRows(row, 1)
        if self.model.rowCount():
            self._select(min(row, self.model.rowCount() - 1))
        self._edited()

    @Slot()
    def _on_up_clicked(self) -> None:
        self._move(-1)

    @Slot()
    def _on_down_clicked(self) -> None:
        self._move(1)

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()
