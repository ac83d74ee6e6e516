"""Compare's conversation so far: the questions and the reference's replies, turn by turn.

A collapsible box above the panes (the panes show only the latest turn's replies). Everything in
it is plain text inserted through a text cursor: a model's reply is data, never HTML.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from desktop_app.core.compare.conversation import Turn, system_prompt, turns
from desktop_app.core.engine.protocol import ChatMessage

MAX_HEIGHT = 170  # the panes below keep most of the height


class CompareConversation(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turns: list[Turn] = []
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setChecked(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._on_toggled)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumHeight(MAX_HEIGHT)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle)
        layout.addWidget(self.text)
        self.hide()

    def set_conversation(self, messages: tuple[ChatMessage, ...], reference: str) -> None:
        """Show ``messages`` (the reference's replies as the assistant turns); an empty
        conversation hides the box. ``reference``: how to name the reference (its quant)."""
        self.turns = turns(messages)
        system = system_prompt(messages)
        self.text.clear()
        if not self.turns:
            self.hide()
            return
        cursor = QTextCursor(self.text.document())
        plain, bold = QTextCharFormat(), QTextCharFormat()
        bold.setFontWeight(QFont.Weight.Bold)
        first = True

        def block(heading: str, body: str, *, gap: bool = False) -> None:
            nonlocal first
            if not first:
                cursor.insertBlock()
                if gap:  # an empty line before each turn
                    cursor.insertBlock()
            first = False
            cursor.insertText(heading, bold)
            cursor.insertBlock()
            cursor.insertText(body.rstrip("\n"), plain)

        if system:
            block("System", system)
        for t in self.turns:
            block(f"Turn {t.number} · you", t.question, gap=True)
            if t.reply is not None:
                block(f"Turn {t.number} · {reference}", t.reply)
        n = len(self.turns)
        self.toggle.setText(f"Conversation ({n} turn{'s' if n != 1 else ''})")
        self.text.moveCursor(QTextCursor.MoveOperation.End)  # the latest turn in view
        self.text.ensureCursorVisible()
        self.show()

    def plain_text(self) -> str:
        return self.text.toPlainText()

    @Slot(bool)
    def _on_toggled(self, expanded: bool) -> None:
        self.text.setVisible(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
