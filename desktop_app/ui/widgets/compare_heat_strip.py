"""A heat strip: one coloured cell per scored token, coloured by KL(reference || variant).

The strip is painted, not built from widgets, so a text of thousands of tokens costs one paint.
When there are more tokens than pixels, a pixel shows the worst token it covers (a spike must
stay visible). Hovering a cell shows the token, its KLD and both models' top choices.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop_app.ui.widgets.compare_colors import kld_color, visible_text

if TYPE_CHECKING:  # annotation only: numpy stays out of the window's start-up
    from desktop_app.core.quality.row_metrics import RowBlock

STRIP_HEIGHT = 18


@dataclass(frozen=True)
class HeatCell:
    """One scored position: the token that came next and what each model made of it."""

    text: str
    kld: float
    variant_top1: int
    reference_top1: int
    p_variant: float  # probability the variant gave the actual token
    p_reference: float


class HeatStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cells: list[HeatCell] = []
        self._token_text: Callable[[int], str] = lambda token_id: f"#{token_id}"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(120)
        self.setMouseTracking(True)

    def set_cells(
        self, cells: Sequence[HeatCell], token_text: Callable[[int], str] | None = None
    ) -> None:
        """``token_text`` names a token id (for the top-1 choices in the tooltip)."""
        self._cells = list(cells)
        if token_text is not None:
            self._token_text = token_text
        self.update()

    @property
    def cells(self) -> list[HeatCell]:
        return self._cells

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(400, STRIP_HEIGHT)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(120, STRIP_HEIGHT)

    def cell_at(self, x: float) -> int | None:
        n = len(self._cells)
        if n == 0 or x < 0 or x >= self.width():
            return None
        return min(n - 1, int(x * n / max(1, self.width())))

    def color_of(self, index: int) -> QColor:
        return kld_color(self._cells[index].kld)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        rect = self.rect()
        painter.fillRect(rect, self.palette().mid())
        n = len(self._cells)
        if n == 0:
            painter.end()
            return
        width, height = float(rect.width()), float(rect.height())
        if n <= width:
            step = width / n
            for i, cell in enumerate(self._cells):
                # Cells a pixel apart when there is room, so single tokens can be told apart.
                gap = 1.0 if step >= 4 else 0.0
                painter.fillRect(QRectF(i * step, 0, step - gap, height), kld_color(cell.kld))
        else:
            per_px = n / width
            for px in range(int(width)):
                lo, hi = int(px * per_px), max(int(px * per_px) + 1, int((px + 1) * per_px))
                worst = max((c.kld for c in self._cells[lo:hi] if not math.isnan(c.kld)), default=0)
                painter.fillRect(QRectF(px, 0, 1, height), kld_color(worst))
        painter.end()

    def tooltip_for(self, index: int) -> str:
        cell = self._cells[index]
        same = cell.variant_top1 == cell.reference_top1
        ref_top = html.escape(visible_text(self._token_text(cell.reference_top1)))
        var_top = html.escape(visible_text(self._token_text(cell.variant_top1)))
        return (
            f"<b>Token {index + 1}</b>: {html.escape(visible_text(cell.text))}<br>"
            f"KL divergence: {cell.kld:.4g}<br>"
            f"Reference's top choice: {ref_top}<br>"
            f"This variant's top choice: {var_top}{'' if same else ' (differs)'}<br>"
            f"Probability of the real token: {cell.p_variant * 100:.1f}% "
            f"(reference {cell.p_reference * 100:.1f}%)"
        )

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = self.cell_at(event.pos().x())  # type: ignore[attr-defined]
            if index is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip_for(index), self)  # type: ignore[attr-defined]
            return True
        return super().event(event)


def heat_cells(texts: Sequence[str], rows: RowBlock) -> list[HeatCell]:
    """Cells from a variant's scored rows and the scored token texts (rows without KL
    divergence, i.e. the reference's own, give no cells)."""
    if rows.kld is None or rows.ref_top1 is None:
        return []
    ref_nll = rows.ref_nll if rows.ref_nll is not None else rows.nll
    # Plain lists first: indexing numpy arrays element by element is ~50x slower.
    kld, top1, ref_top1 = rows.kld.tolist(), rows.top1.tolist(), rows.ref_top1.tolist()
    p_variant = [math.exp(-x) for x in rows.nll.tolist()]
    p_reference = [math.exp(-x) for x in ref_nll.tolist()]
    n = len(kld)
    names = list(texts[:n]) + [""] * max(0, n - len(texts))
    return [
        HeatCell(names[i], kld[i], top1[i], ref_top1[i], p_variant[i], p_reference[i])
        for i in range(n)
    ]
