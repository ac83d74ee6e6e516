"""The Convert page's "Jobs" box: the job list with progress bars, its actions, and the log.

It follows a ``ConvertRunner``: rows are added when the page starts a batch and updated from
the runner's signals (GUI thread); the buttons act on the selected row's batch. Elapsed times
tick once a second while something runs.

Signals:
    open_in_chat(str): load this finished file in Chat.
    open_in_compare(list): compare the finished files of one batch.
    notice(str, bool): a sentence for the page's banner (True: an error).
    batch_ended(): a batch finished, failed or was cancelled (free disk space changed).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.convert_batch import (
    BatchFinished,
    BatchSpec,
    StageFinished,
    StagePlan,
    StageProgress,
    stage_labels,
)
from desktop_app.core.convert_source import ConvertSource
from desktop_app.core.quantize_errors import QuantizeCancelledError
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_error
from desktop_app.ui.convert_runner import ConvertRunner
from desktop_app.ui.models.convert_jobs_model import (
    CANCELLING,
    Column,
    ConvertJobsModel,
    JobRole,
    JobRow,
    JobState,
)
from desktop_app.ui.widgets.row_delegates import ProgressDelegate

LOG_MAX_LINES = 5000
COMPARE_UNAVAILABLE = "Compare is not available in this version yet."
CANCELLED_TEXT = "Cancelled: the unfinished file was removed; finished files were kept."


class ConvertJobsPanel(QGroupBox):
    open_in_chat = Signal(str)
    open_in_compare = Signal(list)
    notice = Signal(str, bool)
    batch_ended = Signal()

    def __init__(self, runner: ConvertRunner, parent: QWidget | None = None) -> None:
        super().__init__("Jobs", parent)
        self.runner = runner
        self.model = ConvertJobsModel(self)
        self._compare_unavailable: str | None = COMPARE_UNAVAILABLE
        self._clock = QTimer(self)  # elapsed times advance between progress reports
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._on_clock_timeout)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setItemDelegateForColumn(
            Column.PROGRESS, ProgressDelegate(JobRole.PROGRESS, self)
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(Column.OUTPUT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(Column.PROGRESS, 96)
        header.setSectionResizeMode(Column.STATE, QHeaderView.ResizeMode.Stretch)
        for col in (Column.TIME, Column.SIZE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(
            "Stop this job: its worker is killed and its unfinished file removed"
        )
        self.chat_button = QPushButton("Open in Chat")
        self.compare_button = QPushButton("Open in Compare")
        self.reveal_button = QPushButton("Show in folder")
        buttons = QHBoxLayout()
        for b in (self.cancel_button, self.chat_button, self.compare_button, self.reveal_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_MAX_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setPlaceholderText("The quantizer's per-tensor progress and messages appear here.")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.log)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.model.dataChanged.connect(self._on_model_changed)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.chat_button.clicked.connect(self._on_chat_clicked)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.reveal_button.clicked.connect(self._on_reveal_clicked)
        r = runner
        r.planned.connect(self._on_runner_planned)
        r.progressed.connect(self._on_runner_progressed)
        r.log_added.connect(self._on_runner_log_added)
        r.stage_finished.connect(self._on_runner_stage_finished)
        r.batch_finished.connect(self._on_runner_batch_finished)
        r.batch_failed.connect(self._on_runner_batch_failed)
        self._update_actions()

    def selected(self) -> JobRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def append_log(self, lines: list[str]) -> None:
        if lines:
            self.log.appendPlainText("\n".join(lines))

    def set_compare_available(self, available: bool, reason: str = "") -> None:
        self._compare_unavailable = None if available else (reason or COMPARE_UNAVAILABLE)
        self._update_actions()

    def stop_clock(self) -> None:
        self._clock.stop()

    def add_batch(self, batch: int, source: ConvertSource, spec: BatchSpec) -> None:
        """One row per stage of a batch just submitted, selected; they start as queued."""
        kept = set(spec.labels)
        rows = []
        for stage, label in enumerate(stage_labels(spec.labels, source.is_folder)):
            title = f"{source.name}-{label}.gguf" if label in kept else "F16 conversion (temporary)"
            rows.append(JobRow(batch, stage, label, title, size=source.estimates.get(label)))
        first = self.model.rowCount()
        self.model.add_batch(rows)
        self.select_row(first)
        self.append_log([f"— {source.path.name}: {', '.join(spec.labels)} → {spec.output_dir}"])
        self._clock.start()

    def _notify(self, text: str, *, error: bool) -> None:
        self.notice.emit(text, error)

    # --- the runner's reports ----------------------------------------------------------------

    @Slot(int, object)
    def _on_runner_planned(self, batch: int, plans: list[StagePlan]) -> None:
        for stage, plan in enumerate(plans):
            row = self.model.row(batch, stage)
            if row is None:
                continue
            changes: dict[str, object] = {"estimated_seconds": plan.seconds}
            if plan.destination is not None:
                changes["destination"] = plan.destination
                changes["title"] = plan.destination.name
            if plan.output_bytes is not None:
                changes["size"] = plan.output_bytes
            self.model.update(row, **changes)

    @Slot(int, object)
    def _on_runner_progressed(self, batch: int, p: StageProgress) -> None:
        row = self.model.row(batch, p.stage)
        if row is None or row.state.finished:
            return
        detail = CANCELLING if row.detail == CANCELLING else p.tensor
        self.model.update(
            row, state=JobState.RUNNING, fraction=p.fraction, elapsed=p.elapsed, detail=detail
        )

    @Slot(int, object)
    def _on_runner_log_added(self, _batch: int, lines: list[str]) -> None:
        self.append_log(lines)

    @Slot(int, object)
    def _on_runner_stage_finished(self, batch: int, f: StageFinished) -> None:
        row = self.model.row(batch, f.stage)
        if row is None:
            return
        if f.error is not None:
            text = describe_error(f.error)
            self.model.update(row, state=JobState.FAILED, detail=text)
            self.append_log([f"[{row.label}] failed: {text}"])
            self._notify(f"{row.label} failed: {text}", error=True)
            return
        notes = []
        if f.output is None:
            notes.append("temporary, removed at the end")
        if f.fallback_tensors:
            notes.append(f"{f.fallback_tensors} tensors in a fallback type")
        if "requantize_quality_loss" in f.warnings:
            notes.append("re-quantized")
        self.model.update(
            row,
            state=JobState.DONE,
            fraction=1.0,
            output=f.output,
            size=f.output_bytes or row.size,
            detail=", ".join(notes),
        )
        if f.output is not None:
            self.append_log([f"[{row.label}] wrote {f.output} ({human_bytes(f.output_bytes)})"])

    @Slot(int, object)
    def _on_runner_batch_finished(self, batch: int, result: BatchFinished) -> None:
        if result.cancelled:
            self.model.finish_open_rows(batch, JobState.CANCELLED, "nothing half-written kept")
            self._notify(CANCELLED_TEXT, error=False)
            self.append_log([CANCELLED_TEXT])
        else:
            self.model.finish_open_rows(batch, JobState.SKIPPED, "an earlier step failed")
            n = len(result.outputs)
            self.append_log([f"— done: {n} file{'s' if n != 1 else ''} in {result.seconds:.1f} s"])
        self._batch_ended()

    @Slot(int, object)
    def _on_runner_batch_failed(self, batch: int, exc: BaseException) -> None:
        if isinstance(exc, QuantizeCancelledError):
            self.model.finish_open_rows(batch, JobState.CANCELLED, "cancelled before it started")
            self._notify(CANCELLED_TEXT, error=False)
        else:
            text = describe_error(exc)
            self.model.finish_open_rows(batch, JobState.FAILED, text)
            self.append_log([f"failed before starting: {text}"])
            self._notify(f"Nothing was made: {text}", error=True)
        self._batch_ended()

    def _batch_ended(self) -> None:
        if not self.runner.active():
            self._clock.stop()
        self._update_actions()
        self.batch_ended.emit()

    @Slot()
    def _on_clock_timeout(self) -> None:
        self.model.tick()

    # --- actions on the selected job ---------------------------------------------------------

    def _finished_outputs(self, batch: int) -> list[str]:
        return [
            str(r.output)
            for r in self.model.rows_of(batch)
            if r.state == JobState.DONE and r.output is not None
        ]

    @Slot()
    def _update_actions(self) -> None:
        row = self.selected()
        self.cancel_button.setEnabled(
            row is not None and not row.state.finished and row.batch in self.runner.active()
        )
        has_file = row is not None and row.state == JobState.DONE and row.output is not None
        self.chat_button.setEnabled(has_file)
        self.reveal_button.setEnabled(has_file)
        if self._compare_unavailable is not None:
            self.compare_button.setEnabled(False)
            self.compare_button.setToolTip(self._compare_unavailable)
        else:
            enough = row is not None and len(self._finished_outputs(row.batch)) >= 2
            self.compare_button.setEnabled(enough)
            self.compare_button.setToolTip(
                "Compare this job's finished files side by side"
                if enough
                else "Needs two finished files from the same job"
            )

    @Slot()
    def _on_cancel_clicked(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.runner.cancel(row.batch)
        for r in self.model.rows_of(row.batch):
            if r.state == JobState.RUNNING:
                self.model.update(r, detail=CANCELLING)
        self.cancel_button.setEnabled(False)

    @Slot()
    def _on_chat_clicked(self) -> None:
        row = self.selected()
        if row is not None and row.output is not None:
            self.open_in_chat.emit(str(row.output))

    @Slot()
    def _on_compare_clicked(self) -> None:
        row = self.selected()
        if row is None or self._compare_unavailable is not None:
            return
        paths = self._finished_outputs(row.batch)
        if len(paths) >= 2:
            self.open_in_compare.emit(paths)

    @Slot()
    def _on_reveal_clicked(self) -> None:
        row = self.selected()
        if row is not None and row.output is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(row.output.parent)))

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_actions()

    @Slot()
    def _on_model_changed(self) -> None:
        self._update_actions()  # buttons follow the selected row's state
