"""A repo's quant variants as Discover shows them: size, bits, quality note, fit badge, Download.

Rows are ``VariantRow``s priced off the GUI thread (``discover_work.price``). The fit column is
drawn as a coloured badge (background role) with the memory breakdown in its tooltip; the
recommended variant (the highest quality that fits comfortably) is bold and says so. The last
column is the Download button (``ButtonDelegate``): its text and whether it can be pressed
come from the model, so a disabled button always carries its reason as a tooltip.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop_app.core.hub.names import escape_for_display
from desktop_app.core.hub.remote_fit import VariantFit
from desktop_app.formatting import human_bytes
from desktop_app.ui.models.row_table import RowTableModel
from desktop_app.ui.theme import verdict_color, verdict_text

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class VariantRow:
    fit: VariantFit
    recommended: bool = False

    @property
    def key(self) -> str:
        return self.fit.variant.key


class Column(enum.IntEnum):
    QUANT = 0
    BITS = 1
    SIZE = 2
    MEMORY = 3
    FIT = 4
    NOTE = 5
    DOWNLOAD = 6


HEADERS = {
    Column.QUANT: "Quant",
    Column.BITS: "Bits/weight",
    Column.SIZE: "Size",
    Column.MEMORY: "Memory",
    Column.FIT: "Fit",
    Column.NOTE: "What it means",
    Column.DOWNLOAD: "",
}
_HEADER_TIPS = {
    Column.BITS: "Nominal bits per weight of this quantization type",
    Column.MEMORY: "Memory needed to run it at the chosen context (hover a badge for details)",
}
_RIGHT = {Column.BITS, Column.SIZE, Column.MEMORY}


class VariantRole(enum.IntEnum):
    KEY = int(Qt.ItemDataRole.UserRole) + 1  # the variant's first file path
    BUTTON_ENABLED = enum.auto()  # bool, for the Download column


class VariantModel(RowTableModel[VariantRow]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__([HEADERS[c] for c in Column], _HEADER_TIPS, parent)
        self._download_block: str | None = None  # why Download is unavailable (offline)
        self._queued: frozenset[str] = frozenset()  # variant keys already in Downloads

    def set_rows(self, rows: Sequence[VariantRow]) -> None:
        # Same variants, new prices (context changed, header facts arrived): in place.
        self._replace_rows(rows, lambda r: r.key)

    def set_download_block(self, reason: str | None) -> None:
        self._download_block = reason
        self._rows_changed()

    def set_queued(self, keys: frozenset[str]) -> None:
        self._queued = keys
        self._rows_changed()

    def row_of(self, key: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.key == key), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = Column(index.column())
        verdict = row.fit.verdict
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        if role == Qt.ItemDataRole.BackgroundRole and col == Column.FIT and verdict is not None:
            return QColor(verdict_color(verdict))
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.FIT and verdict is not None:
            return QColor("white")
        if role == Qt.ItemDataRole.FontRole and (row.recommended or col == Column.FIT):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in _RIGHT:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if col == Column.FIT:
                return int(Qt.AlignmentFlag.AlignCenter)
            return None
        if role == VariantRole.KEY:
            return row.key
        if role == VariantRole.BUTTON_ENABLED:
            return self._blocked(row) is None
        return None

    def _blocked(self, row: VariantRow) -> str | None:
        """Why this variant cannot be downloaded now; None when it can."""
        v = row.fit.variant
        if not v.complete:
            return "Some parts of this split model are missing from the repo."
        if any(f.size is None for f in v.files):
            return "The hub lists no size for this file, so it cannot be verified."
        if row.key in self._queued:
            return "Already in Downloads."
        return self._download_block

    def _display(self, row: VariantRow, col: Column) -> str:
        fit, v = row.fit, row.fit.variant
        if col == Column.QUANT:
            label = v.label
            if v.shard_count > 1:
                label += f" ({v.shard_count} parts)"
            return label + ("  ★" if row.recommended else "")
        if col == Column.BITS:
            return f"{v.bits_per_weight:.2f}" if v.bits_per_weight else "—"
        if col == Column.SIZE:
            return human_bytes(v.size) if v.size is not None else "—"
        if col == Column.MEMORY:
            return human_bytes(fit.estimate.total) if fit.estimate is not None else "—"
        if col == Column.FIT:
            return verdict_text(fit.verdict) if fit.verdict is not None else "—"
        if col == Column.NOTE:
            if not v.complete:
                return "Incomplete: parts are missing from the repo"
            return v.note or "Unknown quantization type"
        if row.key in self._queued:
            return "In Downloads"
        return "Download"

    def _tooltip(self, row: VariantRow, col: Column) -> str | None:
        v = row.fit.variant
        if col == Column.DOWNLOAD:
            return self._blocked(row) or f"Download {human_bytes(v.size or 0)} to the models folder"
        if col in (Column.FIT, Column.MEMORY):
            return breakdown_text(row.fit)
        if col == Column.QUANT:
            # File names are validated by the core; shown escaped all the same.
            files = "\n".join(escape_for_display(f.path) for f in v.files)
            return ("Recommended: the highest quality that fits comfortably\n" + files
                    if row.recommended else files)  # fmt: skip
        return v.note or None


def breakdown_text(fit: VariantFit) -> str:
    """The memory estimate in words: what the badge's verdict is made of."""
    est = fit.estimate
    if est is None:
        return "The hub lists no size for this file: no estimate."
    m = est.memory
    lines = [f"Weights: {human_bytes(m.weights)}"]
    if fit.kv_included:
        lines.append(f"KV cache ({m.n_ctx:,} tokens, {m.kv_type}): {human_bytes(m.kv_cache)}")
        lines.append(f"Compute buffers: {human_bytes(m.compute)}")
    if m.repack:
        lines.append(f"Repacked copy: {human_bytes(m.repack)}")
    lines.append(f"Runtime overhead: {human_bytes(m.overhead)}")
    lines.append(f"Total: {human_bytes(m.total)} of {human_bytes(est.available)} available")
    if not fit.kv_included:
        lines.append("Size-only estimate: the KV cache is not included yet.")
    elif not fit.exact:
        lines.append("Architecture read from another quant of this model.")
    return "\n".join(lines)
