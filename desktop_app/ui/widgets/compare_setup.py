"""Compare's left column: the files, the reference, the input (a prompt or a text) and the run.

The widget turns its controls into a ``CompareSpec``; it reads no files itself (the page loads
texts and plans off the GUI thread and hands the results back).

Signals:
    variants_changed(): files added, removed or replaced, or the reference or context changed.
    sampler_changed(): the sampling preset or the seed changed.
    run_requested(): Run (or Send follow-up) was clicked.
    cancel_requested(): Cancel was clicked.
    new_comparison_requested(): New comparison was clicked (the conversation starts over).
    text_file_requested(str): the user picked a text file to score (path).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.compare.conversation import with_follow_up
from desktop_app.core.compare.results import COMPARE_SAMPLING, CompareSpec
from desktop_app.core.engine.protocol import SAMPLING_PRESETS, ChatMessage, SamplingParams
from desktop_app.resources import SampleText
from desktop_app.ui.models.compare_variants_model import MAX_VARIANTS, CompareVariantsModel

MODE_PROMPT, MODE_TEXT = 0, 1
DEFAULT_PROMPT = "Explain in three sentences why the sky is blue."
PROMPT_PLACEHOLDER = "The prompt every variant answers"
FOLLOW_UP_PLACEHOLDER = "Follow-up…"
TEXT_MAX_CHUNKS = 4  # a text is scored in at most this many context-sized chunks


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class CompareSetup(QWidget):
    variants_changed = Signal()
    sampler_changed = Signal()
    run_requested = Signal()
    cancel_requested = Signal()
    new_comparison_requested = Signal()
    text_file_requested = Signal(str)

    def __init__(self, start_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._start_dir = start_dir
        self._user_text: tuple[str, str] | None = None  # (name, text) of a file the user chose
        self._samples: list[SampleText] = []

        # --- files ---
        self.model = CompareVariantsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        for col in range(1, self.model.columnCount()):
            self.table.horizontalHeader().setSectionResizeMode(
                col, QHeaderView.ResizeMode.ResizeToContents
            )
        self.table.setMinimumHeight(80)
        self.table.setMaximumHeight(150)
        self.add_button = QPushButton("Add file…")
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.reference_combo = QComboBox()
        self.reference_combo.setToolTip("The variant the others are measured against")
        self.reference_combo.currentIndexChanged.connect(self._on_reference_changed)
        self.plan_label = _plain(
            "Add 2 to 4 GGUF files of one model (or use Library > Open in Compare)."
        )
        self.plan_label.setObjectName("planLabel")
        files_box = QGroupBox("Files")
        files = QVBoxLayout(files_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        ref_row = QHBoxLayout()
        ref_row.addWidget(QLabel("Reference"))
        ref_row.addWidget(self.reference_combo, 1)
        files.addWidget(self.table)
        files.addLayout(buttons)
        files.addLayout(ref_row)
        files.addWidget(self.plan_label)

        # --- input ---
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["Reply to a prompt", "Score a text"])
        self.prompt = QPlainTextEdit(DEFAULT_PROMPT)
        self.prompt.setPlaceholderText(PROMPT_PLACEHOLDER)
        self.prompt.setMaximumHeight(90)
        self.system_prompt = QLineEdit()
        self.system_prompt.setPlaceholderText("System prompt (optional)")
        prompt_page = QWidget()
        prompt_layout = QVBoxLayout(prompt_page)
        prompt_layout.setContentsMargins(0, 0, 0, 0)
        prompt_layout.addWidget(self.prompt)
        prompt_layout.addWidget(self.system_prompt)
        self.text_combo = QComboBox()
        self.text_button = QPushButton("Open text…")
        self.text_button.clicked.connect(self._on_text_file_clicked)
        self.text_info = _plain("")
        text_page = QWidget()
        text_layout = QVBoxLayout(text_page)
        text_layout.setContentsMargins(0, 0, 0, 0)
        text_row = QHBoxLayout()
        text_row.addWidget(self.text_combo, 1)
        text_row.addWidget(self.text_button)
        text_layout.addLayout(text_row)
        text_layout.addWidget(self.text_info)
        self.input_stack = QStackedWidget()
        self.input_stack.addWidget(prompt_page)
        self.input_stack.addWidget(text_page)
        self.mode_combo.currentIndexChanged.connect(self.input_stack.setCurrentIndex)
        self.text_combo.currentIndexChanged.connect(self._update_text_info)

        self.preset = QComboBox()
        self.preset.addItems(list(SAMPLING_PRESETS))
        self.preset.setCurrentText("Precise")
        self.preset.setToolTip("Precise is greedy: differences then come from the weights alone")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(COMPARE_SAMPLING.max_tokens)
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(128, 131072)
        self.n_ctx.setSingleStep(512)
        self.n_ctx.setValue(2048)
        self.n_ctx.editingFinished.connect(self.variants_changed)
        self.preset.currentIndexChanged.connect(self.sampler_changed)
        self.seed.valueChanged.connect(self.sampler_changed)
        settings = QFormLayout()
        settings.addRow("Sampling", self.preset)
        settings.addRow("Seed", self.seed)
        settings.addRow("Max tokens", self.max_tokens)
        settings.addRow("Context", self.n_ctx)
        input_box = QGroupBox("Input")
        input_layout = QVBoxLayout(input_box)
        input_layout.addWidget(self.mode_combo)
        input_layout.addWidget(self.input_stack)
        input_layout.addLayout(settings)

        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop every pane (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setEnabled(False)
        self.new_button = QPushButton("New comparison")
        self.new_button.setToolTip("Forget the conversation and start again with a new prompt")
        self.new_button.clicked.connect(self.new_comparison_requested)
        self.new_button.hide()  # only while a conversation goes on
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button, 1)
        run_row.addWidget(self.cancel_button)
        new_row = QHBoxLayout()
        new_row.addStretch(1)
        new_row.addWidget(self.new_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(files_box)
        layout.addWidget(input_box)
        layout.addLayout(run_row)
        layout.addLayout(new_row)
        layout.addStretch(1)
        self._refresh_reference_combo()

    # --- files ------------------------------------------------------------------------------

    def set_start_dir(self, folder: Path) -> None:
        """Where "Open" dialogs start (the models folder in effect)."""
        self._start_dir = folder

    def set_paths(self, paths: list[str]) -> None:
        self.model.set_paths(paths)
        self._refresh_reference_combo()
        self.variants_changed.emit()

    @Slot()
    def _on_add_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add model files", str(self._start_dir), "GGUF models (*.gguf);;All files (*)"
        )
        self.add_paths(paths)

    def add_paths(self, paths: list[str]) -> None:
        added = [p for p in paths if self.model.add_path(p)]
        if added:
            self._refresh_reference_combo()
            self.variants_changed.emit()

    @Slot()
    def _on_remove_clicked(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        row = rows[0].row() if rows else self.model.rowCount() - 1
        if row >= 0:
            self.model.remove_row(row)
            self._refresh_reference_combo()
            self.variants_changed.emit()

    def _refresh_reference_combo(self) -> None:
        self.reference_combo.blockSignals(True)
        self.reference_combo.clear()
        self.reference_combo.addItem("Highest precision", -1)
        for i, path in enumerate(self.model.paths):
            self.reference_combo.addItem(Path(path).name, i)
        self.reference_combo.blockSignals(False)
        self.add_button.setEnabled(self.model.rowCount() < MAX_VARIANTS)

    @Slot()
    def _on_reference_changed(self) -> None:
        self.variants_changed.emit()

    @property
    def reference(self) -> int:
        data = self.reference_combo.currentData()
        return int(data) if data is not None else -1

    # --- texts ------------------------------------------------------------------------------

    def set_samples(self, samples: list[SampleText]) -> None:
        self._samples = list(samples)
        self._refill_texts()

    def set_user_text(self, name: str, text: str) -> None:
        self._user_text = (name, text)
        self._refill_texts()
        self.text_combo.setCurrentIndex(self.text_combo.count() - 1)

    def _refill_texts(self) -> None:
        self.text_combo.blockSignals(True)
        self.text_combo.clear()
        for s in self._samples:
            self.text_combo.addItem(f"{s.title} ({s.author})")
        if self._user_text is not None:
            self.text_combo.addItem(self._user_text[0])
        self.text_combo.blockSignals(False)
        self._update_text_info()

    @Slot()
    def _on_text_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Text to score", str(Path.home()), "Text (*.txt *.md);;All files (*)"
        )
        if path:
            self.text_file_requested.emit(path)

    def selected_text(self) -> str | None:
        i = self.text_combo.currentIndex()
        if 0 <= i < len(self._samples):
            return self._samples[i].text
        if i == len(self._samples) and self._user_text is not None:
            return self._user_text[1]
        return None

    @Slot()
    def _update_text_info(self) -> None:
        text = self.selected_text()
        self.text_info.setText(
            "No text yet: open a text file."
            if text is None
            else f"{len(text):,} characters; perplexity and KLD over at most "
            f"{TEXT_MAX_CHUNKS} context-sized chunks."
        )

    # --- the run ----------------------------------------------------------------------------

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (
            self.add_button,
            self.remove_button,
            self.reference_combo,
            self.n_ctx,
            self.new_button,
        ):
            w.setEnabled(not running)
        if not running:
            self.add_button.setEnabled(self.model.rowCount() < MAX_VARIANTS)

    @property
    def following_up(self) -> bool:
        return not self.new_button.isHidden()

    def set_follow_up(self, active: bool) -> None:
        """Offer a follow-up (an empty "Follow-up…" box, Send follow-up, New comparison), or go
        back to a fresh prompt. The input kind and the system prompt belong to the conversation,
        so they are fixed while it goes on."""
        self.new_button.setVisible(active)
        self.run_button.setText("Send follow-up" if active else "Run")
        self.prompt.setPlaceholderText(FOLLOW_UP_PLACEHOLDER if active else PROMPT_PLACEHOLDER)
        if active:
            self.prompt.clear()
        why = "Part of the conversation: New comparison to change it" if active else ""
        for w in (self.mode_combo, self.system_prompt):
            w.setEnabled(not active)
            w.setToolTip(why)

    def sampling(self) -> SamplingParams:
        return replace(
            SAMPLING_PRESETS[self.preset.currentText()],
            seed=self.seed.value(),
            max_tokens=self.max_tokens.value(),
            top_logprobs=COMPARE_SAMPLING.top_logprobs,
        )

    def spec(self, history: tuple[ChatMessage, ...] = ()) -> CompareSpec | str:
        """The comparison the controls describe, or why there is none yet (a sentence).
        ``history``: the conversation so far; the prompt box then holds the follow-up."""
        paths = self.model.paths
        if len(paths) < 2:
            return "Add at least two files to compare."
        sampling = self.sampling()
        common = {
            "variants": tuple(paths),
            "reference": self.reference,
            "sampling": sampling,
            "n_ctx": self.n_ctx.value(),
        }
        if self.mode_combo.currentIndex() == MODE_TEXT:
            text = self.selected_text()
            if not text or not text.strip():
                return "Choose a text to score."
            return CompareSpec(text=text, max_chunks=TEXT_MAX_CHUNKS, **common)  # type: ignore[arg-type]
        prompt = self.prompt.toPlainText()
        if not prompt.strip():
            return "Write a follow-up first." if history else "Write a prompt first."
        if history:
            return CompareSpec(messages=with_follow_up(history, prompt), **common)  # type: ignore[arg-type]
        messages = []
        system = self.system_prompt.text().strip()
        if system:
            messages.append(ChatMessage("system", system))
        messages.append(ChatMessage("user", prompt))
        return CompareSpec(messages=tuple(messages), **common)  # type: ignore[arg-type]
