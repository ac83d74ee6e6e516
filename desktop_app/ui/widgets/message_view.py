"""One chat message: who said it, the text rendered as Markdown, and its reply statistics.

Markdown is rendered without HTML: model output and imported chats are untrusted, and inline
HTML could pull in local files or style the page. Links are not followed.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

ROLE_TITLES = {"user": "You", "assistant": "Model", "system": "System"}
_MD_FEATURES = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | (
    QTextDocument.MarkdownFeature.MarkdownNoHTML
)


class _AutoHeightBrowser(QTextBrowser):
    """A read-only text view as tall as its document (the page scrolls, not each message)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)

    def _fit_height(self) -> None:
        self.setFixedHeight(int(self.document().size().height()) + 6)

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit_height()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(400, int(self.document().size().height()) + 6)


class MessageView(QFrame):
    """Signals:
    copy_requested(): the user wants this message's text on the clipboard.
    """

    copy_requested = Signal()

    def __init__(self, role: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self._text = ""
        self.setObjectName(f"message_{role}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(ROLE_TITLES.get(role, role))
        self.title.setStyleSheet("font-weight: 600;")
        self.stats = QLabel("")
        self.stats.setStyleSheet("color: palette(mid);")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self._copy)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.stats, 1)
        header.addWidget(self.copy_button)
        self.body = _AutoHeightBrowser()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.body.document().setDefaultStyleSheet(
            f"pre, code {{ font-family: '{mono.family()}'; background: rgba(127,127,127,0.12); }}"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addLayout(header)
        layout.addWidget(self.body)
        self.set_text(text)

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        self._text = text
        # NUL would end the document early in Qt's markdown parser: show it visibly instead.
        self.body.document().setMarkdown(text.replace("\x00", "\u2400"), _MD_FEATURES)

    def set_stats(self, text: str) -> None:
        self.stats.setText(text)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        self.copy_requested.emit()
