"""One variant's pane: which file, what it costs, where it is, and its reply token by token.

Signals:
    token_clicked(int, int): (pane index, token index) the user clicked a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from desktop_app.core.compare.results import PaneState, VariantInfo, VariantResult
from desktop_app.core.engine.protocol import Token
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_engine_failure
from desktop_app.ui.widgets.compare_token_view import TokenView

STATE_TEXT = {
    PaneState.WAITING: "Waiting",
    PaneState.LOADING: "Loading",
    PaneState.GENERATING: "Writing its reply",
    PaneState.SCORING: "Scoring the reference's text",
    PaneState.DONE: "Done",
    PaneState.FAILED: "Failed",
    PaneState.CANCELLED: "Cancelled",
}
_BADGE = "QLabel { background: palette(mid); border-radius: 8px; padding: 1px 8px; }"
_ERROR_STYLE = "background: rgba(214,69,65,0.15); border-radius: 4px; padding: 4px;"


def describe_pane_failure(
    code: str, detail: str = "", facts: dict[str, int | float | str] | None = None
) -> str:
    """Why a pane failed. A crash here loses no conversation (Chat's wording would say so)."""
    if code == "worker_crashed":
        facts = facts or {}
        how = facts.get("signal") or (
            f"exit code {facts['exit_code']}" if facts.get("exit_code") is not None else ""
        )
        return (
            f"The model process stopped unexpectedly{f' ({how})' if how else ''}. "
            "The other panes go on."
        )
    return describe_engine_failure(code, detail, facts)


def _plain_label(text: str = "", *, wrap: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # file names and errors are not markup
    if wrap:
        label.setWordWrap(True)
        label.setMinimumWidth(60)  # four panes must fit beside the set-up column
    return label


class ComparePane(QFrame):
    token_clicked = Signal(int, int)

    def __init__(self, index: int, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.path = path
        self.state = PaneState.WAITING
        self._state_text = STATE_TEXT[PaneState.WAITING]
        self._busy = False
        self._percent = -1
        self.setFrameShape(QFrame.Shape.StyledPanel)

        self.name_label = _plain_label(Path(path).stem)  # the full path is its tooltip
        self.name_label.setToolTip(path)
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.name_label.setMinimumWidth(40)
        self.quant_badge = _plain_label("")
        self.quant_badge.setStyleSheet(_BADGE)
        self.role_label = _plain_label("")
        self.facts_label = _plain_label("", wrap=True)
        self.speed_label = _plain_label("", wrap=True)
        self.state_label = _plain_label(STATE_TEXT[PaneState.WAITING])
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.error_label = _plain_label("", wrap=True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.hide()
        self.view = TokenView()
        self.view.token_clicked.connect(self._on_view_token_clicked)
        self.divergence_label = _plain_label("", wrap=True)
        self.quality_label = _plain_label("", wrap=True)

        title = QHBoxLayout()
        title.addWidget(self.name_label, 1)
        title.addWidget(self.role_label)
        title.addWidget(self.quant_badge)
        state_row = QHBoxLayout()
        state_row.addWidget(self.state_label)
        state_row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(3)
        layout.addLayout(title)
        layout.addWidget(self.facts_label)
        layout.addWidget(self.speed_label)
        layout.addLayout(state_row)
        layout.addWidget(self.error_label)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.divergence_label)
        layout.addWidget(self.quality_label)

    # --- facts ------------------------------------------------------------------------------

    def set_info(self, info: VariantInfo, is_reference: bool, peak_rss: int = 0) -> None:
        self.quant_badge.setText(info.label)
        self.role_label.setText("reference" if is_reference else "")
        bpw = "" if info.bits_per_weight is None else f"{info.bits_per_weight:.2f} bits/weight · "
        peak = f" · peak {human_bytes(peak_rss)}" if peak_rss else ""
        self.facts_label.setText(
            f"{bpw}{human_bytes(info.size_bytes)} file · "
            f"est. {human_bytes(info.estimated_bytes)}{peak}"
        )

    # --- progress ---------------------------------------------------------------------------

    def set_state(self, state: PaneState, detail: str = "", fraction: float | None = None) -> None:
        self.state = state
        text = STATE_TEXT.get(state, str(state))
        percent = None if fraction is None else round(fraction * 100)
        if state == PaneState.LOADING and percent is not None:
            text = f"Loading {percent}%"
        elif state == PaneState.SCORING and percent is not None:
            text = f"Scoring {percent}%"
        # Only what changed: QProgressBar repaints at once on setValue, and every Qt call
        # lets the runner's threads take the GIL while the GUI waits.
        if text != self._state_text:
            self._state_text = text
            self.state_label.setText(text)
        busy = state in (PaneState.LOADING, PaneState.SCORING) and percent is not None
        if busy != self._busy:
            self._busy = busy
            self.progress.setVisible(busy)
        if busy and percent is not None and percent != self._percent:
            self._percent = percent
            self.progress.setValue(percent)
        if state == PaneState.FAILED and detail and not self.error_label.isVisible():
            self.show_error(describe_pane_failure(detail))

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def append_tokens(self, tokens: Sequence[Token]) -> None:
        self.view.append_tokens(tokens)

    def set_divergence(self, index: int | None, *, is_reference: bool = False) -> None:
        self.view.set_divergence(index)
        if is_reference:
            self.divergence_label.setText("")
        elif index is None:
            self.divergence_label.setText("Same tokens as the reference so far.")
        elif index >= len(self.view.tokens):
            self.divergence_label.setText(
                f"Same tokens as the reference for {index}, then a different length."
            )
        else:
            self.divergence_label.setText(
                f"Departs from the reference at token {index + 1} (underlined)."
            )

    def set_result(self, result: VariantResult, is_reference: bool) -> None:
        """The pane's final outcome: fill in any tokens not streamed (a cached run), the
        measured numbers, the quality line, or the error."""
        missing = result.tokens[len(self.view.tokens) :]
        if missing:
            self.view.append_tokens(missing)
        self.set_info(result.info, is_reference, result.peak_rss_bytes)
        s = result.stats
        if s is not None and s.generated_tokens:
            self.speed_label.setText(
                f"First token {s.ttft_s:.2f} s · {s.gen_tps:.1f} tok/s · "
                f"{s.generated_tokens} tokens"
            )
        elif result.eval_tps:
            self.speed_label.setText(f"Scored {result.eval_tps:.0f} tok/s")
        summary = result.summary
        if result.failed:
            self.show_error(
                describe_pane_failure(result.error_code, result.error_detail, result.error_facts)
            )
            self.quality_label.setText("")
        elif summary is not None and summary.kld_mean is not None and not is_reference:
            agree = summary.top1_agreement or 0.0
            ratio = summary.ppl_ratio if summary.ppl_ratio is not None else float("nan")
            self.quality_label.setText(
                f"KLD mean {summary.kld_mean:.4f} · same top-1 {agree * 100:.1f}% · "
                f"PPL ratio {ratio:.3f}"
            )
        elif summary is not None:
            self.quality_label.setText(f"Perplexity {summary.ppl:.2f} (the yardstick)")
        # A cached run reports no state changes: the result alone says how the pane ended.
        if result.error_code == "cancelled":
            self.set_state(PaneState.CANCELLED)
        elif result.failed:
            self.set_state(PaneState.FAILED)
        else:
            self.set_state(PaneState.DONE)
            if result.from_cache:
                self._state_text = "Done (from the cache)"
                self.state_label.setText(self._state_text)

    @Slot(int)
    def _on_view_token_clicked(self, token_index: int) -> None:
        self.token_clicked.emit(self.index, token_index)
