"""A one-line notice across the top of a page: offline, information or error.

Plain text only: banners quote error sentences that may carry hub text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

_STYLES = {
    "offline": "background: #fff4d6; color: #5c4400; padding: 6px 10px; border-radius: 4px;",
    "info": "background: palette(alternate-base); padding: 6px 10px; border-radius: 4px;",
    "error": "background: #fde8e7; color: #8c1d18; padding: 6px 10px; border-radius: 4px;",
}


class Banner(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.kind = ""
        self.hide()

    def show_text(self, text: str, kind: str = "info") -> None:
        """Show ``text`` styled as ``kind`` ("offline", "info" or "error"); "" hides it."""
        self.kind = kind if text else ""
        self.setText(text)
        self.setStyleSheet(_STYLES[kind])
        self.setVisible(bool(text))
