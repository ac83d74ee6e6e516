"""Convert: make your own bit widths from a Hugging Face folder or a GGUF file.

The source is read off the GUI thread (``inspect_source`` on the io pool): architecture,
parameters, stored type and size, or the converter's refusal (pickle checkpoints, unsupported
architectures) as one sentence. Target types are a checklist priced for that source, each with
a fit badge for this machine at the chosen context. Start queues one batch on the heavy pool
(``ConvertRunner``); batches run one after another, each row of the job list is one output
with its progress, state and time. Nothing half-written is ever left behind: the core writes
to a temp file and renames it when complete, and a cancel or failure removes the temp file.

Signals:
    open_in_chat(str): load this finished file in Chat.
    open_in_compare(list): compare these finished files (paths, best quality first).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import hardware
from desktop_app.core.convert_batch import BatchSpec
from desktop_app.core.convert_source import ConvertSource, inspect_source, writable_types
from desktop_app.formatting import human_bytes, human_count
from desktop_app.messages import describe_error
from desktop_app.messages_convert import describe_convert_warning
from desktop_app.ui.convert_runner import ConvertRunner
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets.convert_jobs import ConvertJobsPanel
from desktop_app.ui.widgets.convert_targets import ConvertTargetsPanel

ERROR_STYLE = "color: #d64541;"
BANNER_ERROR = (
    "QLabel { background: #fbe3e2; color: #8f1d1a; padding: 6px 10px; border-radius: 4px; }"
)
BANNER_INFO = (
    "QLabel { background: #e6eefb; color: #1d3f8f; padding: 6px 10px; border-radius: 4px; }"
)


def _disk_facts(folder: Path) -> tuple[int, bool]:
    """(free bytes, writable) of the output folder; io pool."""
    free, _total = hardware.disk_space(folder)
    return free, folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


class ConvertPage(QWidget):
    open_in_chat = Signal(str)
    open_in_compare = Signal(list)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._source: ConvertSource | None = None
        self._available = 0  # memory available when the source was read
        self._inspecting = 0  # generation of the latest source read; older results are dropped
        self._disk: tuple[int, bool] | None = None
        self.output_dir = services.paths.models
        services.models_folder.changed.connect(self._on_models_folder_changed)
        self.runner = ConvertRunner(services.pools.heavy, services.quantize_launcher, self)

        title = QLabel("Convert")
        title.setObjectName("pageTitle")
        subtitle = QLabel("Make your own bit widths from a Hugging Face folder or a GGUF file.")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.hide()

        # Source
        self.source_edit = QLineEdit()
        self.source_edit.setReadOnly(True)
        self.source_edit.setPlaceholderText("Choose a model folder or a GGUF file")
        self.folder_button = QPushButton("Hugging Face folder…")
        self.folder_button.setToolTip("A folder with config.json, *.safetensors and a tokenizer")
        self.file_button = QPushButton("GGUF file…")
        self.source_facts = QLabel("No source chosen.")
        self.source_facts.setWordWrap(True)
        self.source_facts.setTextFormat(Qt.TextFormat.PlainText)
        self.source_facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        source_box = QGroupBox("Source")
        grid = QGridLayout(source_box)
        grid.addWidget(self.source_edit, 0, 0)
        grid.addWidget(self.folder_button, 0, 1)
        grid.addWidget(self.file_button, 0, 2)
        grid.addWidget(self.source_facts, 1, 0, 1, 3)
        grid.setColumnStretch(0, 1)

        self.targets = ConvertTargetsPanel()

        # Output
        self.output_edit = QLineEdit(str(self.output_dir))
        self.output_edit.setReadOnly(True)
        self.output_button = QPushButton("Choose…")
        self.disk_label = QLabel("")
        self.disk_label.setTextFormat(Qt.TextFormat.PlainText)
        self.disk_label.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.setMinimumWidth(110)
        output_box = QGroupBox("Output folder")
        out_grid = QGridLayout(output_box)
        out_grid.addWidget(self.output_edit, 0, 0)
        out_grid.addWidget(self.output_button, 0, 1)
        out_grid.addWidget(self.disk_label, 1, 0)
        out_grid.addWidget(self.start_button, 1, 1)
        out_grid.setColumnStretch(0, 1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(source_box)
        left_layout.addWidget(self.targets, 1)
        left_layout.addWidget(output_box)
        self.jobs = ConvertJobsPanel(self.runner)
        self.jobs_model = self.jobs.model
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.jobs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([600, 400])
        split.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)

        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.file_button.clicked.connect(self._on_file_clicked)
        self.output_button.clicked.connect(self._on_output_clicked)
        self.start_button.clicked.connect(self.start)
        self.targets.changed.connect(self._on_targets_changed)
        self.jobs.open_in_chat.connect(self.open_in_chat)
        self.jobs.open_in_compare.connect(self.open_in_compare)
        self.jobs.notice.connect(self._on_jobs_notice)
        self.jobs.batch_ended.connect(self._refresh_disk)
        self._refresh_disk()
        self._update_plan()

    # --- public ------------------------------------------------------------------------------

    def select_source(self, path: str | os.PathLike[str]) -> None:
        """Use ``path`` (a Hugging Face folder or a GGUF file) as the source; read off-thread."""
        self._inspecting += 1
        generation = self._inspecting
        self._source = None
        self.source_edit.setText(str(path))
        self.source_facts.setStyleSheet("")
        self.source_facts.setText("Reading the source…")
        self.targets.set_source_quantized(False)
        self.targets.model.set_source_type(None, False)
        self._show_estimates()
        Op(_read_source, Path(path)).success(
            lambda result: self._on_source_read(generation, result)
        ).failure(lambda exc: self._on_source_failed(generation, exc)).owned_by(self).run_in(
            self._services.pools.io
        )

    @Slot(object, object)
    def _on_models_folder_changed(self, old: Path, new: Path) -> None:
        if self.output_dir == old:  # a folder the user chose here is kept
            self.set_output_dir(new)

    def set_output_dir(self, folder: str | os.PathLike[str]) -> None:
        self.output_dir = Path(folder)
        self.output_edit.setText(str(self.output_dir))
        self._refresh_disk()

    def set_compare_available(self, available: bool, reason: str = "") -> None:
        """Whether "Open in Compare" can be used (``reason`` is its tooltip if not)."""
        self.jobs.set_compare_available(available, reason)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel queued and running jobs (their workers are killed, temp files removed)."""
        self.runner.shutdown()
        self.jobs.stop_clock()

    # --- source ------------------------------------------------------------------------------

    @Slot()
    def _on_folder_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder")
        if path:
            self.select_source(path)

    @Slot()
    def _on_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a GGUF file", str(self.output_dir), "GGUF models (*.gguf)"
        )
        if path:
            self.select_source(path)

    def _on_source_read(self, generation: int, result: tuple[ConvertSource, int]) -> None:
        if generation != self._inspecting:
            return  # another source was chosen meanwhile
        source, available = result
        self._source, self._available = source, available
        kind = "Hugging Face folder" if source.is_folder else "GGUF file"
        arch = source.architecture
        if source.hf_architecture:
            arch += f" ({source.hf_architecture})"
        lines = [
            f"{kind} · {arch} · {human_count(source.parameter_count)} parameters · "
            f"{source.dtype} · {human_bytes(source.size)} on disk"
        ]
        if source.is_folder:
            lines.append("Converted to F16 GGUF first; F16 is kept only if ticked below.")
        if source.quantized:
            lines.append(f"Already quantized ({source.dtype}): re-quantizing must be allowed.")
        lines += [f"Note: {describe_convert_warning(w)}" for w in source.warnings]
        self.source_facts.setStyleSheet("")
        self.source_facts.setText("\n".join(lines))
        self.targets.set_source_quantized(source.quantized)
        own = None if source.is_folder else source.dtype
        self.targets.model.set_source_type(own, source.quantized)
        self._show_estimates()
        # A job is likely next: have its worker started ahead (off this thread: ~10 ms).
        Op(self._services.quantize_launcher.prime).run_in(self._services.pools.io)

    def _on_source_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._inspecting:
            return
        self.source_facts.setStyleSheet(ERROR_STYLE)
        self.source_facts.setText(f"Cannot use this source: {describe_error(exc)}")
        self._show_estimates()

    @Slot()
    def _on_targets_changed(self) -> None:
        self._show_estimates()

    def _show_estimates(self) -> None:
        source, n_ctx = self._source, self.targets.context()
        sizes: dict[str, int] = {}
        verdicts = {}
        if source is not None:
            sizes = dict(source.estimates)
            for ft in writable_types():
                verdicts[ft.label] = source.fit(ft, n_ctx, self._available).verdict
        self.targets.model.set_estimates(sizes, verdicts, n_ctx)
        self._update_plan()

    # --- output folder and the plan ----------------------------------------------------------

    @Slot()
    def _on_output_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose the output folder", str(self.output_dir)
        )
        if path:
            self.set_output_dir(path)

    def _refresh_disk(self) -> None:
        folder = self.output_dir
        Op(_disk_facts, folder).success(lambda facts: self._on_disk_read(folder, facts)).failure(
            lambda exc: self._on_disk_read(folder, None)
        ).owned_by(self).run_in(self._services.pools.io)

    def _on_disk_read(self, folder: Path, facts: tuple[int, bool] | None) -> None:
        if folder == self.output_dir:
            self._disk = facts
            self._update_plan()

    def _update_plan(self) -> None:
        labels = self.targets.model.checked_labels()
        needed = self.targets.model.estimated_bytes(labels) if self._source else None
        parts, problem = [], False
        if labels:
            parts.append(f"{len(labels)} type{'s' if len(labels) != 1 else ''}")
            if needed is not None:
                parts.append(f"about {human_bytes(needed)}")
        else:
            parts.append("No type ticked")
        if self._disk is None:
            parts.append("free space unknown")
        else:
            free, writable = self._disk
            parts.append(f"{human_bytes(free)} free")
            if not writable:
                parts.append("the folder is read-only")
                problem = True
            elif needed is not None and needed > free:
                parts.append("not enough space")
                problem = True
        self.disk_label.setText(" · ".join(parts))
        self.disk_label.setStyleSheet(ERROR_STYLE if problem else "")
        self.start_button.setEnabled(self._source is not None and bool(labels))

    # --- starting jobs (the jobs panel follows them) ----------------------------------------

    @Slot()
    def start(self) -> int | None:
        """Queue the ticked types for the current source; returns the batch id."""
        source, labels = self._source, self.targets.model.checked_labels()
        if source is None or not labels:
            return None
        spec = BatchSpec(
            source=source.path,
            output_dir=self.output_dir,
            labels=tuple(labels),
            imatrix=self.targets.imatrix,
            allow_requantize=self.targets.allow_requantize(),
        )
        self._hide_banner()
        batch = self.runner.submit(spec)
        self.jobs.add_batch(batch, source, spec)
        return batch

    # --- banner ------------------------------------------------------------------------------

    @Slot(str, bool)
    def _on_jobs_notice(self, text: str, error: bool) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet(BANNER_ERROR if error else BANNER_INFO)
        self.banner.show()

    def _hide_banner(self) -> None:
        self.banner.hide()
        self.banner.setText("")


def _read_source(path: Path) -> tuple[ConvertSource, int]:
    """The source's facts and the memory available now (io pool)."""
    return inspect_source(path), hardware.memory_snapshot().available
