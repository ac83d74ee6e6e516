"""Measured quality: the scored text, one KLD heat strip per variant, and the summary table."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.compare.results import CompareResult
from desktop_app.ui.models.compare_summary_model import CompareSummaryModel
from desktop_app.ui.widgets.compare_heat_strip import HeatStrip, heat_cells
from desktop_app.ui.widgets.compare_pane import describe_pane_failure

PREVIEW_CHARS = 20_000  # the scored text shown above the strips (the strips cover all of it)


def token_namer(result: CompareResult) -> dict[int, str]:
    """Token id -> text, from everything the run saw: replies, their alternatives and the
    scored text (the worker reports ids for top-1 choices, not text)."""
    names: dict[int, str] = {}
    for v in result.variants:
        for t in v.tokens:
            names.setdefault(t.token_id, t.text)
            for alt in t.top:
                names.setdefault(alt.token_id, alt.text)
    for token_id, text in zip(result.scored_tokens, result.scored_texts, strict=False):
        names.setdefault(token_id, text)
    return names


class CompareQuality(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = CompareSummaryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(CompareSummaryModel.SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

        self.text_title = QLabel("<b>The text every variant was scored on</b>")
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setMaximumHeight(110)
        self.strips_title = QLabel(
            "<b>Where each variant departs from the reference</b> (one cell per token: "
            "green agrees, red disagrees; hover for the numbers)"
        )
        self.strips_title.setWordWrap(True)
        self._strips_box = QWidget()
        self._strips = QGridLayout(self._strips_box)
        self._strips.setContentsMargins(0, 0, 0, 0)
        self._strips.setColumnStretch(1, 1)
        self.strips: dict[int, HeatStrip] = {}
        self.hint = QLabel("Run a comparison: the numbers appear here once every pane is scored.")
        self.hint.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.text_title)
        layout.addWidget(self.text_view)
        layout.addWidget(self.strips_title)
        layout.addWidget(self._strips_box)
        layout.addWidget(self.table, 1)
        self._show_details(False)

    def _show_details(self, shown: bool) -> None:
        for w in (self.text_title, self.text_view, self.strips_title, self._strips_box):
            w.setVisible(shown)
        self.hint.setVisible(not shown)

    def clear(self) -> None:
        self.model.clear()
        self._clear_strips()
        self.text_view.clear()
        self._show_details(False)

    def _clear_strips(self) -> None:
        while self._strips.count():
            item = self._strips.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.strips = {}

    def set_result(self, result: CompareResult, recommended: int | None) -> None:
        ref = result.plan.reference
        self.model.set_results(result.variants, ref, recommended)
        self._clear_strips()
        names = token_namer(result)
        texts = list(result.scored_texts) or [names.get(t, f"#{t}") for t in result.scored_tokens]
        scored = "".join(texts) if result.scored_texts else (result.spec.text or "")
        self.text_view.setPlainText(scored[:PREVIEW_CHARS])
        row = 0
        for v in result.variants:
            if v.index == ref:
                continue
            name = QLabel(v.info.label)
            name.setTextFormat(Qt.TextFormat.PlainText)
            self._strips.addWidget(name, row, 0)
            rows = v.rows
            if v.failed or rows is None or rows.kld is None or rows.ref_top1 is None:
                why = (
                    describe_pane_failure(v.error_code, v.error_detail, v.error_facts)
                    if v.failed
                    else "Not scored."
                )
                note = QLabel(why)
                note.setTextFormat(Qt.TextFormat.PlainText)
                note.setWordWrap(True)
                self._strips.addWidget(note, row, 1)
            else:
                strip = HeatStrip()
                strip.set_cells(
                    heat_cells(texts, rows), lambda token_id: names.get(token_id, f"#{token_id}")
                )
                self._strips.addWidget(strip, row, 1)
                self.strips[v.index] = strip
            row += 1
        self._show_details(True)
