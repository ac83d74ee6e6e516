"""The family view: each model with its quantized variants, best quality first.

A ``QStandardItemModel`` rebuilt from ``group_families`` output after each scan (families are
few and cheap to rebuild). Variant rows carry the same ``LibraryRole`` data as the table, so
``LibraryFilterProxy`` with recursive filtering filters both views alike.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QStyle

from desktop_app.core.library.families import ModelFamily, Variant
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_broken_reason
from desktop_app.ui.models.library_model import (
    BROKEN_COLOR,
    FIT_CONTEXT,
    LibraryRole,
    LibraryRow,
    source_name,
)
from desktop_app.ui.theme import verdict_color, verdict_text


class FamilyColumn(enum.IntEnum):
    NAME = 0
    BITS = 1
    SIZE = 2
    SOURCE = 3
    FIT = 4


_HEADERS = ("Family / quantization", "Bits/weight", "Size", "Source", "Fit")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class FamilyTreeModel(QStandardItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(FamilyColumn), parent)
        self.setHorizontalHeaderLabels(list(_HEADERS))
        self._families: dict[str, ModelFamily] = {}

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.ToolTipRole
            and orientation == Qt.Orientation.Horizontal
            and section == FamilyColumn.FIT
        ):
            return f"Whether the model fits in the memory free now, at {FIT_CONTEXT:,} tokens"
        return super().headerData(section, orientation, role)

    def family(self, key: str) -> ModelFamily | None:
        return self._families.get(key)

    def set_families(
        self,
        families: Iterable[ModelFamily],
        rows: Mapping[str, LibraryRow],
        hidden: frozenset[str],
    ) -> None:
        """Rebuild from ``families``; ``rows`` (by entry key) give each variant's fit verdict."""
        self.removeRows(0, self.rowCount())
        self._families = {}
        for family in families:
            self._families[family.key] = family
            self.appendRow(_family_items(family, rows, hidden))


def family_label(family: ModelFamily) -> str:
    """The family's name, with the repo it comes from when the layout gives one (two repos
    may publish the same model, and those are two families)."""
    return f"{family.name} ({family.repo})" if family.repo else family.name


def _item(text: str, *, right: bool = False) -> QStandardItem:
    item = QStandardItem(text)
    item.setEditable(False)
    if right:
        item.setTextAlignment(_RIGHT)
    return item


def _family_items(
    family: ModelFamily, rows: Mapping[str, LibraryRow], hidden: frozenset[str]
) -> list[QStandardItem]:
    n = len(family.variants)
    head = [
        _item(family_label(family)),
        _item(f"{n} variant{'s' if n != 1 else ''}"),
        _item(human_bytes(family.size), right=True),
        _item(""),
        _item(""),
    ]
    head[0].setData(family.key, LibraryRole.FAMILY_KEY)
    head[0].setToolTip(family.repo or family.name)
    font = head[0].font()
    font.setBold(True)
    head[0].setFont(font)
    for variant in family.variants:
        head[0].appendRow(_variant_items(family, variant, rows, hidden))
    return head


def _variant_items(
    family: ModelFamily, variant: Variant, rows: Mapping[str, LibraryRow], hidden: frozenset[str]
) -> list[QStandardItem]:
    first = variant.entries[0]
    row = rows.get(first.key)
    kinds = tuple(dict.fromkeys(loc.source_kind for e in variant.entries for loc in e.paths))
    parts = f" ({variant.shard_count} parts)" if variant.shard_count > 1 else ""
    bits = f"{variant.bits_per_weight:.2f}" if variant.bits_per_weight is not None else "—"
    if variant.broken_reason is not None:
        fit = "Broken"
    elif row is not None and row.verdict is not None:
        fit = verdict_text(row.verdict)
    else:
        fit = "—"
    items = [
        _item(variant.quant_label + parts),
        _item(bits, right=True),
        _item(human_bytes(variant.size), right=True),
        _item(", ".join(source_name(k) for k in kinds)),
        _item(fit),
    ]
    is_hidden = any(str(loc.path) in hidden for e in variant.entries for loc in e.paths)
    search = "\n".join(
        [family.name, variant.quant_label]
        + [f"{loc.display_name}\n{loc.path}" for e in variant.entries for loc in e.paths]
    ).casefold()
    tooltip = [f"{source_name(loc.source_kind)}: {loc.path}" for loc in first.paths]
    if variant.broken_reason is not None:
        tooltip.insert(0, f"Broken: {describe_broken_reason(variant.broken_reason)}")
        items[0].setIcon(
            QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        )
    for item in items:
        item.setToolTip("\n".join(tooltip))
        if variant.broken_reason is not None or is_hidden:
            item.setForeground(QColor(BROKEN_COLOR))
    if row is not None and row.verdict is not None and variant.broken_reason is None:
        items[FamilyColumn.FIT].setForeground(QColor(verdict_color(row.verdict)))
    head = items[0]
    head.setData(first.key, LibraryRole.KEY)
    head.setData(str(variant.path), LibraryRole.PATH)
    head.setData(kinds, LibraryRole.SOURCE_KINDS)
    head.setData(search, LibraryRole.SEARCH_TEXT)
    head.setData(is_hidden, LibraryRole.HIDDEN)
    head.setData(variant.broken_reason is not None, LibraryRole.BROKEN)
    head.setData(variant.own, LibraryRole.OWN)
    head.setData(family.key, LibraryRole.FAMILY_KEY)
    return items
