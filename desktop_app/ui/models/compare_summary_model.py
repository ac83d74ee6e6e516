"""The quality table of a comparison: one row per variant, reference first in its own place.

Rows are the runner's VariantResults (immutable); the model only formats them. ``SORT_ROLE``
gives raw numbers so a proxy sorts 9 before 10 and puts missing values last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop_app.core.compare.results import VariantResult
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_engine_failure
from desktop_app.ui.models.row_table import RowTableModel

Index = QModelIndex | QPersistentModelIndex

COLUMNS = (
    "Variant",
    "Size",
    "Bits/weight",
    "PPL",
    "PPL ratio",
    "KLD mean",
    "KLD median",
    "KLD p99",
    "KLD max",
    "Same top-1",
    "Gen tok/s",
    "Peak memory",
)
_TIPS = (
    "The file's quantization; the reference is the one the others are measured against",
    "File size on disk",
    "Average bits stored per weight",
    "Perplexity of the reference's text under this variant (lower: less surprised)",
    "This variant's perplexity divided by the reference's (1.00: no loss)",
    "Mean KL divergence from the reference's next-token distribution (0: identical)",
    "Median KL divergence",
    "99th percentile of the KL divergence: how bad the worst 1% of tokens get",
    "Largest KL divergence at any token",
    "How often this variant's most likely next token is the reference's",
    "Generation speed of this variant's own reply",
    "Highest memory the variant's process used",
)
FAILED_COLOR = QColor(214, 69, 65)


def _num(value: float | None, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    return format(value, fmt)


class CompareSummaryModel(RowTableModel[VariantResult]):
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(COLUMNS, dict(enumerate(_TIPS)), parent)
        self._reference = -1
        self._recommended: int | None = None

    def set_results(
        self,
        rows: Sequence[VariantResult],
        reference: int,
        recommended: int | None = None,
    ) -> None:
        self._reference = reference
        self._recommended = recommended
        self._reset_rows(rows)

    def clear(self) -> None:
        self.set_results([], -1)

    def result_at(self, row: int) -> VariantResult:
        return self.row_at(row)

    def _values(self, v: VariantResult) -> tuple[Any, ...]:
        s = v.summary
        gen = v.stats.gen_tps if v.stats is not None and v.stats.generated_tokens > 1 else None
        return (
            v.info.label,
            v.info.size_bytes,
            v.info.bits_per_weight,
            s.ppl if s else None,
            s.ppl_ratio if s else None,
            s.kld_mean if s else None,
            s.kld_median if s else None,
            s.kld_p99 if s else None,
            s.kld_max if s else None,
            s.top1_agreement if s else None,
            gen,
            v.peak_rss_bytes or None,
        )

    def _display(self, v: VariantResult, col: int) -> str:
        value = self._values(v)[col]
        if col == 0:
            tags = []
            if v.index == self._reference:
                tags.append("ref")
            if v.failed:
                tags.append("failed")
            star = " ★" if v.index == self._recommended else ""
            return f"{value}{star} ({', '.join(tags)})" if tags else f"{value}{star}"
        if col in (1, 11):
            return human_bytes(value) if value else "—"
        if col == 2:
            return _num(value, ".2f")
        if col in (3, 4):
            return _num(value, ".3f") if col == 4 else _num(value, ".2f")
        if col in (5, 6, 7, 8):
            return _num(value, ".4f")
        if col == 9:
            return "—" if value is None else f"{value * 100:.1f}%"
        return _num(value, ".1f")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        v = self.row_for(index)
        if v is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(v, col)
        if role == self.SORT_ROLE:
            value = self._values(v)[col]
            if col == 0:
                return v.index
            return math.inf if value is None else float(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and v.index in (self._reference, self._recommended):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and v.failed and col == 0:
            return FAILED_COLOR
        if role == Qt.ItemDataRole.ToolTipRole:
            if v.failed:
                return describe_engine_failure(v.error_code, v.error_detail, v.error_facts)
            pick = (
                " ★ Recommended: the best quality that fits comfortably."
                if (v.index == self._recommended)
                else ""
            )
            return v.info.path + pick
        return None
