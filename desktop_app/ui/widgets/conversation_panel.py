"""Conversation list: new, search, rename, delete, export and import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.chat_store import Conversation
from desktop_app.ui.chat_session import ChatSession
from desktop_app.ui.models.conversation_list_model import ConversationListModel


class ConversationPanel(QWidget):
    def __init__(self, session: ChatSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self.setMaximumWidth(260)
        self.new_button = QPushButton("New chat")
        self.new_button.clicked.connect(session.new_conversation)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(self._on_import_clicked)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search chats")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda text: session.refresh_list(text))
        self.model = ConversationListModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_context_menu)
        self.view.clicked.connect(self._on_clicked)
        session.conversations_changed.connect(self._on_conversations_changed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.search)
        layout.addWidget(self.view, 1)

    @Slot(list)
    def _on_conversations_changed(self, rows: list[Conversation]) -> None:
        self.model.set_conversations(rows)
        current = self._session.conversation
        if current is not None:
            row = self.model.row_of(current.id)
            if row >= 0:
                self.view.setCurrentIndex(self.model.index(row, 0))

    @Slot(QModelIndex)
    def _on_clicked(self, index: QModelIndex) -> None:
        conv = self.model.conversation_at(index.row())
        if conv is not None:
            self._session.select_conversation(conv.id)

    @Slot(QPoint)
    def _on_context_menu(self, pos: QPoint) -> None:
        conv = self.model.conversation_at(self.view.indexAt(pos).row())
        if conv is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self._rename(conv))
        menu.addAction("Export as Markdown…", lambda: self._export(conv, "md"))
        menu.addAction("Export as JSON…", lambda: self._export(conv, "json"))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self._delete(conv))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def _rename(self, conv: Conversation) -> None:
        title, ok = QInputDialog.getText(self, "Rename chat", "Title", text=conv.title)
        if ok and title.strip():
            self._session.rename(conv.id, title.strip())

    def _delete(self, conv: Conversation) -> None:
        answer = QMessageBox.question(
            self,
            "Delete chat",
            f"Delete “{conv.title}” and all its messages?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._session.delete(conv.id)

    def _export(self, conv: Conversation, fmt: str) -> None:
        suffix = "JSON (*.json)" if fmt == "json" else "Markdown (*.md)"
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in conv.title)[:60] or "chat"
        path, _ = QFileDialog.getSaveFileName(self, "Export chat", f"{safe}.{fmt}", suffix)
        if path:
            self._session.export(conv.id, Path(path), fmt)

    @Slot()
    def _on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import chat", "", "JSON (*.json)")
        if path:
            self._session.import_file(Path(path))
