"""Compare: two to four bit widths of one model on the same prompt, side by side, measured.

Threads: planning (reads every GGUF header), the size ladder, sample texts and report writing
run on the ``io`` pool; the comparison itself (``run_compare``, one worker process per variant)
on the ``heavy`` pool through ``CompareBridge``, whose events reach this page in ~30 ms batches.

Follow-up turns: after a chat-mode run the prompt box takes a follow-up, and every pane is asked
it with the same history, the earlier questions and the *reference's* replies
(``core/compare/conversation.py``). Changing the files, the reference, the sampler or the
context starts over, as does New comparison.

Signals:
    continue_in_chat(str, object): the reference's path and the whole conversation (system
        prompt, every question and the reference's replies) as a chat export document.
    export_finished(list): the report files written (paths as str), or an empty list on failure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.compare.conversation import can_follow_up, conversation_after
from desktop_app.core.compare.results import (
    CompareResult,
    CompareSpec,
    PaneFinished,
    PaneStateChanged,
    PaneToken,
    PlanReady,
    RunMode,
    RunPlan,
)
from desktop_app.core.engine.protocol import ChatMessage, Token
from desktop_app.messages import describe_error
from desktop_app.ui.compare_bridge import CompareBridge
from desktop_app.ui.compare_documents import chat_document, describe_plan, read_text_file
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets.compare_chart import QualityChart, chart_points
from desktop_app.ui.widgets.compare_conversation import CompareConversation
from desktop_app.ui.widgets.compare_explainer import CompareExplainer
from desktop_app.ui.widgets.compare_panes import ComparePanes
from desktop_app.ui.widgets.compare_quality import CompareQuality
from desktop_app.ui.widgets.compare_setup import CompareSetup

_BANNER_ERROR = "background: rgba(214,69,65,0.15); border-radius: 4px; padding: 6px;"
_BANNER_INFO = "background: rgba(74,123,208,0.15); border-radius: 4px; padding: 6px;"


class ComparePage(QWidget):
    continue_in_chat = Signal(str, object)
    export_finished = Signal(list)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._plan: RunPlan | None = None
        self._plan_generation = 0
        self._spec: CompareSpec | None = None
        # The conversation a follow-up extends (ends with the reference's reply; empty: the next
        # run starts fresh) and the run that produced it (its files, sampler and context).
        self._history: tuple[ChatMessage, ...] = ()
        self._history_spec: CompareSpec | None = None
        self.result: CompareResult | None = None
        self.recommended: int | None = None
        self.bridge = CompareBridge(services.pools.heavy, services.paths.cache / "compare", self)
        self.bridge.events_arrived.connect(self._on_events)
        self.bridge.finished.connect(self._on_run_finished)
        self.bridge.failed.connect(self._on_run_failed)

        self.setup = CompareSetup(services.paths.models)
        services.models_folder.changed.connect(self._on_models_folder_changed)
        self.setup.variants_changed.connect(self._replan)
        self.setup.run_requested.connect(self.run)
        self.setup.cancel_requested.connect(self.cancel)
        self.setup.sampler_changed.connect(self._check_follow_up)
        self.setup.new_comparison_requested.connect(self.new_comparison)
        self.setup.text_file_requested.connect(self._load_text_file)
        setup_scroll = QScrollArea()
        setup_scroll.setWidgetResizable(True)
        setup_scroll.setWidget(self.setup)
        setup_scroll.setMinimumWidth(300)

        self.banner = QLabel()
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.conversation = CompareConversation()
        self.panes = ComparePanes()
        self.quality = CompareQuality()
        self.chart = QualityChart()
        self.explainer = CompareExplainer()
        chart_tab = QSplitter()
        chart_tab.addWidget(self.chart)
        chart_tab.addWidget(self.explainer)
        chart_tab.setStretchFactor(0, 3)
        chart_tab.setStretchFactor(1, 2)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.panes, "Replies")
        self.tabs.addTab(self.quality, "Quality")
        self.tabs.addTab(chart_tab, "Quality against size")

        self.export_button = QPushButton("Export report…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.chat_button = QPushButton("Continue in Chat")
        self.chat_button.setToolTip("Open the reference model in Chat with this conversation")
        self.chat_button.clicked.connect(self._on_chat_clicked)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(120)  # a long path must not widen the window
        actions = QHBoxLayout()
        actions.addWidget(self.status, 1)
        actions.addWidget(self.chat_button)
        actions.addWidget(self.export_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.conversation)
        right_layout.addWidget(self.tabs, 1)
        right_layout.addLayout(actions)
        splitter = QSplitter()
        splitter.addWidget(setup_scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([310, 830])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.cancel)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._update_actions()
        from desktop_app.resources import sample_texts

        Op(sample_texts).success(self.setup.set_samples).failure(self._on_samples_failed).owned_by(
            self
        ).run_in(services.pools.io)

    # --- files and plan ---------------------------------------------------------------------

    def set_variants(self, paths: list[str]) -> None:
        """Compare these files (the Library's "Open in Compare"); at most 4 are kept."""
        if self.bridge.running:
            self._show_banner("A comparison is running; cancel it before choosing other files.")
            return
        self.setup.set_paths(paths)

    @Slot()
    def _replan(self) -> None:
        self._check_follow_up()
        self._plan = None
        self._plan_generation += 1
        generation = self._plan_generation
        self.setup.model.set_plan(None)
        paths = self.setup.model.paths
        if len(paths) < 2:
            self.setup.plan_label.setText("Add 2 to 4 GGUF files of one model.")
            return
        self.setup.plan_label.setText("Reading the files…")
        spec = CompareSpec(
            variants=tuple(paths),
            reference=self.setup.reference,
            messages=(ChatMessage("user", ""),),  # the plan does not depend on the input
            n_ctx=self.setup.n_ctx.value(),
        )
        from desktop_app.core.compare.plan import plan_run

        Op(plan_run, spec).success(lambda plan: self._on_plan(generation, plan)).failure(
            lambda exc: self._on_plan_failed(generation, exc)
        ).owned_by(self).run_in(self._services.pools.io)

    def _on_plan(self, generation: int, plan: RunPlan) -> None:
        if generation != self._plan_generation:
            return  # the files changed meanwhile
        self._plan = plan
        self.setup.model.set_plan(plan)
        self.setup.plan_label.setText(describe_plan(plan))

    def _on_plan_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._plan_generation:
            self.setup.plan_label.setText(f"Cannot compare these files: {describe_error(exc)}")

    # --- running ----------------------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        if self.bridge.running:
            return
        spec = self.setup.spec(self._history)
        if isinstance(spec, str):
            self._show_banner(spec)
            return
        self._hide_banner()
        self._spec = spec
        self.conversation.set_conversation(spec.messages or (), self._reference_name())
        self.result = None
        self.recommended = None
        self.panes.reset(spec.variants, self._plan.reference if self._plan else spec.reference)
        self.quality.clear()
        self.chart.set_points([], 0)
        self.tabs.setCurrentWidget(self.panes)
        self.status.setText("Starting…")
        self.setup.set_running(True)
        self.bridge.start(spec)
        self._update_actions()

    @Slot()
    def cancel(self) -> None:
        if self.bridge.running:
            self.status.setText("Cancelling…")
            self.bridge.cancel()

    @Slot(object, object)
    def _on_models_folder_changed(self, _old: Path, new: Path) -> None:
        self.setup.set_start_dir(new)

    def shutdown(self) -> None:
        """Window closing: stop every pane and wait until the workers have ended."""
        self.bridge.shutdown(timeout=10.0)

    @Slot(list)
    def _on_events(self, events: list[object]) -> None:
        """One batch (~30 ms) of runner events, applied with as few widget calls as possible:
        tokens per pane in one append, only the last state of each pane, then the results."""
        tokens: dict[int, list[Token]] = defaultdict(list)
        states: dict[int, PaneStateChanged] = {}
        finished: list[PaneFinished] = []
        for event in events:
            if isinstance(event, PaneToken):
                tokens[event.index].append(event.token)
            elif isinstance(event, PaneStateChanged):
                states[event.index] = event
            elif isinstance(event, PaneFinished):
                finished.append(event)
            elif isinstance(event, PlanReady):
                self._plan = event.plan
                self.panes.set_plan(event.plan)
                self.setup.model.set_plan(event.plan)
                mode = "side by side" if event.plan.mode == RunMode.PARALLEL else "one at a time"
                self.status.setText(f"Running {mode}…")
        if tokens:
            self.panes.append_tokens(tokens)
        for state in states.values():
            self.panes.set_state(state.index, state.state, state.detail, state.fraction)
        for done in finished:
            self.panes.finish_pane(done.result)

    @Slot(object)
    def _on_run_finished(self, result: CompareResult) -> None:
        self.result = result
        self.setup.set_running(False)
        follow_up = self._after_turn(result)
        from desktop_app.core.compare.advice import recommended

        self.recommended = recommended(result, result.plan.available_bytes)
        self.quality.set_result(result, self.recommended)
        self.chart.set_points(chart_points(result, self.recommended), result.plan.available_bytes)
        failed = sum(1 for v in result.variants if v.failed)
        if result.cancelled:
            self.status.setText("Cancelled.")
        elif failed:
            self.status.setText(f"Finished; {failed} of {len(result.variants)} variants failed.")
        else:
            self.status.setText("Finished." + (" (from the cache)" if self._all_cached() else ""))
        if follow_up:
            self.status.setText(f"{self.status.text()} {follow_up}")
        self._update_actions()
        self._load_ladder(result)

    # --- follow-up turns --------------------------------------------------------------------

    def _after_turn(self, result: CompareResult) -> str:
        """Grow the conversation by a finished turn, or keep it as it was (a cancelled or failed
        follow-up puts its question back). Returns a sentence for the status line."""
        name = self._reference_name(result)
        if can_follow_up(result):
            self._history = conversation_after(result)
            self._history_spec = result.spec
            self.setup.set_follow_up(True)
            self.conversation.set_conversation(self._history, name)
            return "Write a follow-up: every variant gets the reference's replies so far."
        if self._history and result.spec.messages:
            self.conversation.set_conversation(self._history, name)
            self.setup.prompt.setPlainText(result.spec.messages[-1].content)
            return "The conversation is as it was before this follow-up."
        self.conversation.set_conversation(conversation_after(result), name)
        return ""

    def _reference_name(self, result: CompareResult | None = None) -> str:
        if result is not None:
            return f"reference ({result.reference.info.label})"
        plan = self._plan
        if plan is not None and plan.variants and 0 <= plan.reference < len(plan.variants):
            return f"reference ({plan.variants[plan.reference].label})"
        return "reference"

    @Slot()
    def _check_follow_up(self) -> None:
        """Files, reference, sampler or context no longer those of the conversation: start
        over (a follow-up must continue what these very settings said)."""
        last = self._history_spec
        if not self._history or last is None or self.bridge.running:
            return
        sampling = replace(self.setup.sampling(), max_tokens=last.sampling.max_tokens)
        if tuple(self.setup.model.paths) != last.variants:
            why = "the files changed"
        elif self.setup.reference != last.reference:
            why = "the reference changed"
        elif sampling != last.sampling:
            why = "the sampler changed"
        elif self.setup.n_ctx.value() != last.n_ctx:
            why = "the context changed"
        else:
            return
        self._start_over()
        self.status.setText(f"New comparison: {why}, so the next run starts a new conversation.")

    @Slot()
    def new_comparison(self) -> None:
        """Forget the conversation and its results; the files and settings stay."""
        if self.bridge.running:
            return
        self._start_over()
        self.result = None
        self.recommended = None
        self.conversation.set_conversation((), "")
        self.panes.reset([])
        self.quality.clear()
        self.chart.set_points([], 0)
        self.status.setText("New comparison: write a prompt.")
        self.setup.prompt.setFocus()
        self._update_actions()

    def _start_over(self) -> None:
        self._history = ()
        self._history_spec = None
        self.setup.set_follow_up(False)

    def _all_cached(self) -> bool:
        return self.result is not None and all(v.from_cache for v in self.result.variants)

    @Slot(object)
    def _on_run_failed(self, exc: BaseException) -> None:
        self.setup.set_running(False)
        self.status.setText("")
        self._show_banner(f"The comparison could not start: {describe_error(exc)}")
        self._update_actions()

    def _load_ladder(self, result: CompareResult) -> None:
        from desktop_app.core.compare.advice import size_ladder

        ref = result.reference.info.path
        n_ctx = result.spec.n_ctx
        Op(size_ladder, ref, n_ctx, result.plan.available_bytes).success(
            lambda rows: self.explainer.set_ladder(rows, n_ctx)
        ).failure(
            lambda exc: self.explainer.set_ladder_unavailable(
                f"The sizes could not be estimated: {describe_error(exc)}"
            )
        ).owned_by(self).run_in(self._services.pools.io)

    # --- texts ------------------------------------------------------------------------------

    @Slot(str)
    def _load_text_file(self, path: str) -> None:
        Op(read_text_file, path).success(lambda named: self.setup.set_user_text(*named)).failure(
            lambda exc: self._show_banner(f"Cannot use this text: {describe_error(exc)}")
        ).owned_by(self).run_in(self._services.pools.io)

    def _on_samples_failed(self, exc: BaseException) -> None:
        self.setup.text_info.setText(f"The sample texts could not be read: {describe_error(exc)}")

    # --- export and chat --------------------------------------------------------------------

    def _update_actions(self) -> None:
        running = self.bridge.running
        result = self.result
        self.export_button.setEnabled(result is not None and not running)
        self.chat_button.setEnabled(
            not running and any(m.role == "assistant" for m in self._chat_messages())
        )

    def _chat_messages(self) -> tuple[ChatMessage, ...]:
        """What Continue in Chat carries: the conversation a follow-up would extend, else the
        shown result's (every earlier turn, then the reference's reply, even a partial one)."""
        if self._history:
            return self._history
        return conversation_after(self.result) if self.result is not None else ()

    @Slot()
    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export comparison report",
            str(Path.home() / "quantdesk-compare.html"),
            "HTML report (*.html)",
        )
        if path:
            self.export_report(Path(path))

    def export_report(self, html_path: Path) -> None:
        """Write ``html_path`` (the chart embedded) and the same name with ``.json``."""
        result = self.result
        if result is None:
            return
        if html_path.suffix.lower() != ".html":
            html_path = html_path.with_name(html_path.name + ".html")
        json_path = html_path.with_suffix(".json")
        self.tabs.setCurrentIndex(2)  # the chart must be laid out to be grabbed
        png = self.chart.png_bytes()

        def write() -> list[str]:
            from desktop_app.core.atomic import atomic_write_text
            from desktop_app.core.compare.report import report_html, report_json

            atomic_write_text(html_path, report_html(result, png))
            data = json.dumps(report_json(result), ensure_ascii=False, indent=1) + "\n"
            atomic_write_text(json_path, data)
            return [str(html_path), str(json_path)]

        self.status.setText("Writing the report…")
        Op(write).success(self._on_exported).failure(self._on_export_failed).owned_by(self).run_in(
            self._services.pools.io
        )

    def _on_exported(self, paths: list[str]) -> None:
        self.status.setText(f"Report saved: {paths[0]} and {Path(paths[1]).name}")
        self.export_finished.emit(paths)

    def _on_export_failed(self, exc: BaseException) -> None:
        self.status.setText("")
        self._show_banner(f"The report could not be saved: {describe_error(exc)}")
        self.export_finished.emit([])

    @Slot()
    def _on_chat_clicked(self) -> None:
        result = self.result
        messages = self._chat_messages()
        if result is None or not messages:
            return
        path = result.reference.info.path
        self.continue_in_chat.emit(path, chat_document(path, messages))

    # --- banner -----------------------------------------------------------------------------

    def _show_banner(self, text: str, info: bool = False) -> None:
        self.banner.setStyleSheet(_BANNER_INFO if info else _BANNER_ERROR)
        self.banner.setText(text)
        self.banner.show()

    def _hide_banner(self) -> None:
        self.banner.hide()
