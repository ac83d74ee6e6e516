"""A titled box of "label: value" rows; values are plain, selectable text (never HTML)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget


class FactsForm(QGroupBox):
    def __init__(
        self, title: str, rows: Sequence[tuple[str, str]], parent: QWidget | None = None
    ) -> None:
        super().__init__(title, parent)
        layout = QFormLayout(self)
        self.fields: dict[str, QLabel] = {}
        for key, label in rows:
            value = QLabel("—")
            value.setTextFormat(Qt.TextFormat.PlainText)  # values may come from untrusted files
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = value
            layout.addRow(label, value)

    def set(self, key: str, text: str) -> None:
        self.fields[key].setText(text)
