"""A pane's reply, token by token: each token tinted by the probability the model gave it.

Model output is untrusted: it goes in as plain text through ``QTextCursor.insertText`` (never
HTML), and tooltips escape every token. Tokens arrive in batches (one edit block per batch, so a
streaming pane costs one layout of its last paragraph per batch, not one per token).

Signals:
    token_clicked(int): the user clicked a token (its index in this pane's reply).
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QFrame, QPlainTextEdit, QToolTip, QWidget

from desktop_app.core.engine.protocol import Token
from desktop_app.ui.widgets.compare_colors import level_tint, tint_level, visible_text

DIVERGENCE_COLOR = QColor(214, 69, 65)


def first_divergence(
    reference: Sequence[int], other: Sequence[int], *, finished: bool = False
) -> int | None:
    """Index of the first token where ``other`` departs from ``reference`` (token ids).

    While replies still stream, a reply that is a prefix of the other has not departed yet
    (None). Once both are finished (``finished``), a reply that stops early or runs on departs
    where the shorter one ends.
    """
    n = min(len(reference), len(other))
    for i in range(n):
        if reference[i] != other[i]:
            return i
    if finished and len(reference) != len(other):
        return n
    return None


def _displayable(text: str) -> str:
    # Control characters (other than newline and tab) would be invisible or reflow the view.
    return "".join(
        ch if ch in "\n\t" or (ch.isprintable() or ch == " ") else "\ufffd"
        for ch in text.replace("\r\n", "\n").replace("\r", "\n")
    )


def alternatives_html(token: Token, index: int) -> str:
    """Tooltip for one token: its probability and the top-k alternatives (all escaped)."""
    rows = [
        f"<b>Token {index + 1}</b>: {html.escape(visible_text(token.text))} "
        f"&nbsp;{token.prob * 100:.1f}%"
    ]
    if token.top:
        rows.append("<table cellspacing='0' cellpadding='1'>")
        for alt in token.top:
            mark = " \u2190" if alt.token_id == token.token_id else ""
            rows.append(
                f"<tr><td>{html.escape(visible_text(alt.text))}</td>"
                f"<td align='right'>&nbsp;{alt.prob * 100:.1f}%{mark}</td></tr>"
            )
        rows.append("</table>")
    else:
        rows.append("<br>No alternatives were recorded for this token.")
    return "".join(rows)


class TokenView(QPlainTextEdit):
    token_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.viewport().setMouseTracking(True)
        self._tokens: list[Token] = []
        self._starts: list[int] = []  # document position where each token starts
        self._ends: list[int] = []
        self._divergence: int | None = None
        self._formats: dict[int, QTextCharFormat] = {}  # one per tint (tints are quantized)

    # --- content ----------------------------------------------------------------------------

    @property
    def tokens(self) -> list[Token]:
        return self._tokens

    @property
    def divergence(self) -> int | None:
        return self._divergence

    def clear_tokens(self) -> None:
        self.clear()
        self._tokens, self._starts, self._ends = [], [], []
        self._divergence = None

    def append_tokens(self, tokens: Sequence[Token]) -> None:
        if not tokens:
            return
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        pos = cursor.position()
        # One Qt call per token: positions are counted here (UTF-16 units, as QTextDocument
        # counts them) and formats come from a small cache, because every call into Qt gives
        # the runner's threads a chance to hold the GIL while the GUI waits.
        cursor.beginEditBlock()
        for token in tokens:
            text = _displayable(token.text)
            cursor.insertText(text, self._format_for(token.prob))
            self._tokens.append(token)
            self._starts.append(pos)
            pos += len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2
            self._ends.append(pos)
        cursor.endEditBlock()
        if self._divergence is not None and self._divergence >= len(self._tokens) - len(tokens):
            self._mark(self._divergence)
        if follow:
            bar.setValue(bar.maximum())

    def _format_for(self, prob: float) -> QTextCharFormat:
        level = tint_level(prob)
        fmt = self._formats.get(level)
        if fmt is None:
            fmt = QTextCharFormat()
            fmt.setBackground(level_tint(level))
            self._formats[level] = fmt
        return fmt

    def set_divergence(self, index: int | None) -> None:
        """Mark the first token where this reply departs from the reference (None: unmark)."""
        if index == self._divergence:
            return
        old, self._divergence = self._divergence, index
        if old is not None and old < len(self._tokens):
            self._format_range(old, underline=False)
        if index is not None:
            self._mark(index)

    def _mark(self, index: int) -> None:
        if index < len(self._tokens):
            self._format_range(index, underline=True)

    def _format_range(self, index: int, *, underline: bool) -> None:
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._starts[index])
        cursor.setPosition(self._ends[index], QTextCursor.MoveMode.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setFontUnderline(underline)
        fmt.setUnderlineStyle(
            QTextCharFormat.UnderlineStyle.WaveUnderline
            if underline
            else QTextCharFormat.UnderlineStyle.NoUnderline
        )
        fmt.setUnderlineColor(DIVERGENCE_COLOR)
        fmt.setFontWeight(QFont.Weight.Bold if underline else QFont.Weight.Normal)
        cursor.mergeCharFormat(fmt)

    def scroll_to_token(self, index: int) -> None:
        if 0 <= index < len(self._tokens):
            cursor = QTextCursor(self.document())
            cursor.setPosition(self._starts[index])
            self.setTextCursor(cursor)
            self.ensureCursorVisible()

    # --- lookup -----------------------------------------------------------------------------

    def token_at_position(self, position: int) -> int | None:
        """The token covering document ``position`` (None between or past tokens)."""
        i = bisect.bisect_right(self._starts, position) - 1
        while i >= 0 and self._starts[i] == self._ends[i]:
            i -= 1  # an empty token (a split character) shares its start with the next one
        if i >= 0 and self._starts[i] <= position < self._ends[i]:
            return i
        return None

    def token_at(self, viewport_pos: QPoint) -> int | None:
        """The token drawn under a viewport point (None in the margins or below the text)."""
        # cursorForPosition gives the gap nearest the point: the glyph under the point is the
        # one before that gap when the point is left of it, else the one after it.
        cursor = self.cursorForPosition(viewport_pos)
        position = cursor.position()
        rect = self.cursorRect(cursor)
        if not rect.top() <= viewport_pos.y() <= rect.bottom():
            return None
        if viewport_pos.x() < rect.x():
            return self.token_at_position(position - 1) if position > 0 else None
        after = QTextCursor(cursor)
        if not after.movePosition(QTextCursor.MoveOperation.NextCharacter):
            return None  # past the end of the text
        if self.cursorRect(after).top() != rect.top():
            return None  # past the end of this line
        return self.token_at_position(position)

    def tooltip_at(self, viewport_pos: QPoint) -> str | None:
        """What hovering there shows: the token's alternatives (None off the tokens)."""
        index = self.token_at(viewport_pos)
        return None if index is None else alternatives_html(self._tokens[index], index)

    def tint_of(self, index: int) -> QColor:
        """The background a token was drawn with (what the user sees)."""
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._starts[index] + 1)
        return cursor.charFormat().background().color()

    def is_marked(self, index: int) -> bool:
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._starts[index] + 1)
        style = cursor.charFormat().underlineStyle()
        return style == QTextCharFormat.UnderlineStyle.WaveUnderline

    # --- events -----------------------------------------------------------------------------

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ToolTip:
            tip = self.tooltip_at(event.pos())  # type: ignore[attr-defined]
            if tip is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), tip, self.viewport())  # type: ignore[attr-defined]
            return True
        return super().viewportEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and not self.textCursor().hasSelection():
            index = self.token_at(event.position().toPoint())
            if index is not None:
                self.token_clicked.emit(index)
