"""Plain words beside the chart: what KLD, perplexity and top-1 mean, and this model's sizes.

Everything shown here is QuantDesk's own text and numbers (no file or model content), so the
ladder can be a small rich-text table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop_app.core.compare.advice import LadderRow
from desktop_app.formatting import human_bytes
from desktop_app.ui.theme import verdict_color, verdict_text

EXPLANATIONS = (
    (
        "KL divergence (KLD)",
        "How far a variant's guess for the next token is from the reference's, over every "
        "possible token. 0 means identical; below 0.01 is hard to notice, above 0.1 the "
        "variant often thinks differently.",
    ),
    (
        "Perplexity (PPL) ratio",
        "How surprised a variant is by the reference's text, divided by how surprised the "
        "reference is. 1.00 means no loss; 1.05 means about 5% more surprised.",
    ),
    (
        "Same top-1",
        "How often the variant's first choice for the next token is the reference's first "
        "choice. With greedy decoding, every disagreement can send the reply another way.",
    ),
)


class CompareExplainer(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for title, text in EXPLANATIONS:
            label = QLabel(f"<b>{title}</b>: {text}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(label)
        self.ladder_title = QLabel("<b>This model at each bit width</b>")
        self.ladder_title.setTextFormat(Qt.TextFormat.RichText)
        self.ladder = QLabel("Run a comparison to see this model's sizes.")
        self.ladder.setTextFormat(Qt.TextFormat.RichText)
        self.ladder.setWordWrap(True)
        layout.addWidget(self.ladder_title)
        layout.addWidget(self.ladder)
        layout.addStretch(1)
        self.rows: list[LadderRow] = []

    def set_ladder(self, rows: Sequence[LadderRow], n_ctx: int) -> None:
        self.rows = list(rows)
        if not rows:
            self.ladder.setText("The sizes could not be estimated for this model.")
            return
        lines = [
            "<table cellspacing='0' cellpadding='3'>",
            "<tr><th align='left'>Bits</th><th align='left'>Type</th>"
            f"<th align='right'>File</th><th align='right'>&nbsp;Memory at {n_ctx:,}</th>"
            "<th align='left'>&nbsp;Fit</th></tr>",
        ]
        for row in rows:
            color = verdict_color(row.verdict)
            lines.append(
                f"<tr><td>{row.bits}</td><td>{row.label}</td>"
                f"<td align='right'>{human_bytes(row.file_bytes)}</td>"
                f"<td align='right'>{human_bytes(row.total_bytes)}</td>"
                f"<td>&nbsp;<span style='color:{color}'>{verdict_text(row.verdict)}</span></td>"
                "</tr>"
            )
        lines.append("</table>")
        self.ladder.setText("".join(lines))

    def set_ladder_unavailable(self, reason: str) -> None:
        self.rows = []
        self.ladder.setText(html.escape(reason))  # it may name a file
