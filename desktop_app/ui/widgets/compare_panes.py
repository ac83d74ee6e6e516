"""The panes side by side: streaming replies, where each departs from the reference, synced scroll.

Tokens reach the panes in batches (the bridge coalesces them); each batch costs one append per
pane and one divergence check per pane, whatever the number of tokens in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop_app.core.compare.results import PaneState, RunPlan, VariantResult
from desktop_app.core.engine.protocol import Token
from desktop_app.ui.widgets.compare_colors import visible_text
from desktop_app.ui.widgets.compare_pane import ComparePane
from desktop_app.ui.widgets.compare_token_view import first_divergence

_ENDED = (PaneState.DONE, PaneState.FAILED, PaneState.CANCELLED)


class ComparePanes(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panes: list[ComparePane] = []
        self._reference = 0
        self._finished: set[int] = set()
        self._agreed: dict[int, int] = {}  # pane -> tokens known to match the reference
        self._syncing = False

        self.sync_check = QCheckBox("Scroll panes together")
        self.sync_check.setChecked(True)
        self.legend = QLabel(
            "Tint: how sure the model was of each token (green: sure, red: unsure). "
            "Hover or click a token for the alternatives."
        )
        self.legend.setWordWrap(True)
        self.legend.setMinimumWidth(120)  # wrap instead of widening the window
        self.detail = QLabel("")
        self.detail.setTextFormat(Qt.TextFormat.PlainText)  # token text is model output
        self.detail.setWordWrap(True)
        self.detail.setMinimumWidth(120)
        self.empty_hint = QLabel("Pick files and press Run: each variant's reply appears here.")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setMinimumWidth(120)
        self._row = QHBoxLayout()
        self._row.setSpacing(6)
        self._row.addWidget(self.empty_hint)
        top = QHBoxLayout()
        top.addWidget(self.legend, 1)
        top.addWidget(self.sync_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(self._row, 1)
        layout.addWidget(self.detail)

    # --- set-up -----------------------------------------------------------------------------

    def reset(self, paths: Sequence[str], reference: int = -1) -> None:
        for pane in self.panes:
            self._row.removeWidget(pane)
            pane.deleteLater()
        self.panes = []
        self._finished = set()
        self._agreed = {}
        self._reference = max(0, reference)
        self.detail.setText("")
        self.empty_hint.setVisible(not paths)
        for i, path in enumerate(paths):
            pane = ComparePane(i, path)
            pane.token_clicked.connect(self._on_token_clicked)
            pane.view.verticalScrollBar().valueChanged.connect(
                lambda value, i=i: self._on_pane_scrolled(i, value)
            )
            self._row.addWidget(pane, 1)
            self.panes.append(pane)

    def set_plan(self, plan: RunPlan) -> None:
        self._reference = plan.reference
        for pane, info in zip(self.panes, plan.variants, strict=False):
            pane.set_info(info, pane.index == plan.reference)

    @property
    def reference(self) -> int:
        return self._reference

    # --- streaming --------------------------------------------------------------------------

    def set_state(self, index: int, state: PaneState, detail: str, fraction: float | None) -> None:
        if 0 <= index < len(self.panes):
            self.panes[index].set_state(state, detail, fraction)

    def append_tokens(self, by_pane: dict[int, list[Token]]) -> None:
        for index, tokens in by_pane.items():
            if 0 <= index < len(self.panes):
                self.panes[index].append_tokens(tokens)
        self._update_divergence()

    def finish_pane(self, result: VariantResult) -> None:
        if not 0 <= result.index < len(self.panes):
            return
        self._finished.add(result.index)
        self.panes[result.index].set_result(result, result.index == self._reference)
        self._update_divergence()

    def _update_divergence(self) -> None:
        if not self.panes or self._reference >= len(self.panes):
            return
        ref_tokens = self.panes[self._reference].view.tokens
        ref_done = self._reference in self._finished
        for pane in self.panes:
            if pane.index == self._reference:
                pane.set_divergence(None, is_reference=True)
                continue
            if pane.view.divergence is not None:
                continue  # the first departure never moves once found
            if pane.state in _ENDED and pane.state != PaneState.DONE:
                continue  # a failed or cancelled reply has no meaningful end
            # Only the tokens not compared yet (a streaming pane costs O(batch), not O(reply)).
            start = self._agreed.get(pane.index, 0)
            tokens = pane.view.tokens
            end = min(len(ref_tokens), len(tokens))
            ids = [t.token_id for t in tokens[start:end]]
            ref_ids = [t.token_id for t in ref_tokens[start:end]]
            both_done = ref_done and pane.index in self._finished
            found = first_divergence(ref_ids, ids)
            if found is not None:
                pane.set_divergence(start + found)
            elif both_done and len(ref_tokens) != len(tokens):
                pane.set_divergence(end)  # one stopped where the other went on
            else:
                self._agreed[pane.index] = end
                pane.set_divergence(None)

    def divergences(self) -> list[int | None]:
        return [pane.view.divergence for pane in self.panes]

    # --- interaction ------------------------------------------------------------------------

    @Slot(int, int)
    def _on_token_clicked(self, pane_index: int, token_index: int) -> None:
        pane = self.panes[pane_index]
        token = pane.view.tokens[token_index]
        alts = ", ".join(f"{visible_text(a.text)} {a.prob * 100:.1f}%" for a in token.top)
        self.detail.setText(
            f"{pane.quant_badge.text() or pane.name_label.text()}, token {token_index + 1}: "
            f"{visible_text(token.text)} ({token.prob * 100:.1f}%)"
            + (f". Alternatives: {alts}" if alts else "")
        )

    def _on_pane_scrolled(self, index: int, value: int) -> None:
        if self._syncing or not self.sync_check.isChecked() or index >= len(self.panes):
            return
        source = self.panes[index].view.verticalScrollBar()
        fraction = value / source.maximum() if source.maximum() > 0 else 0.0
        self._syncing = True
        try:
            for pane in self.panes:
                if pane.index != index:
                    bar = pane.view.verticalScrollBar()
                    bar.setValue(round(fraction * bar.maximum()))
        finally:
            self._syncing = False
