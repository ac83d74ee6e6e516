"""The Convert page's job list: one row per output of every batch the user started.

A batch (one click on Start) makes one or more types from one source; its rows are its stages
in run order (``convert_batch.stage_labels``). Rows only change on the GUI thread, from the
runner's throttled signals; ``data`` just formats. The progress column carries a 0..1 fraction
in ``JobRole.PROGRESS`` for the progress-bar delegate.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.formatting import human_bytes
from desktop_app.ui.models.row_table import RowTableModel

Index = QModelIndex | QPersistentModelIndex

ERROR_COLOR = "#d64541"
CANCELLING = "cancelling…"  # the detail of a running row whose cancel was asked
DONE_COLOR = "#2e9d4f"


class JobState(enum.StrEnum):
    QUEUED = "Queued"
    RUNNING = "Running"
    DONE = "Done"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class Column(enum.IntEnum):
    OUTPUT = 0
    PROGRESS = 1
    STATE = 2
    TIME = 3
    SIZE = 4


_HEADERS = ("Type", "Progress", "State", "Elapsed / left", "Size")


class JobRole(enum.IntEnum):
    PROGRESS = int(Qt.ItemDataRole.UserRole) + 1  # float 0..1
    STATE = enum.auto()  # JobState
    PATH = enum.auto()  # str of the finished file, "" when none
    BATCH = enum.auto()  # int


@dataclass
class JobRow:
    batch: int
    stage: int
    label: str
    title: str  # what the row makes, e.g. "Tiny-HF-Q4_K_M.gguf"
    state: JobState = JobState.QUEUED
    fraction: float = 0.0
    detail: str = ""  # the tensor being written, or the error sentence
    destination: Path | None = None
    output: Path | None = None
    size: int | None = None  # estimated until done, then real
    estimated_seconds: float | None = None
    started: float | None = None  # time.monotonic() when it started running
    elapsed: float = 0.0

    def seconds_left(self) -> float | None:
        if self.state != JobState.RUNNING:
            return None
        if self.fraction >= 0.05 and self.elapsed > 0:
            return self.elapsed * (1 - self.fraction) / self.fraction
        if self.estimated_seconds is not None:
            return max(0.0, self.estimated_seconds - self.elapsed)
        return None


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ConvertJobsModel(RowTableModel[JobRow]):
    # Rows are records edited in place (``update``, ``tick``), each edit followed by its
    # ranged dataChanged.

    def __init__(self, parent: Any = None) -> None:
        super().__init__(_HEADERS, parent=parent)

    # --- changes (GUI thread) ----------------------------------------------------------------

    def add_batch(self, rows: Sequence[JobRow]) -> None:
        self._append_rows(rows)

    def rows_of(self, batch: int) -> list[JobRow]:
        return [r for r in self._rows if r.batch == batch]

    def row(self, batch: int, stage: int) -> JobRow | None:
        return next((r for r in self._rows if r.batch == batch and r.stage == stage), None)

    def update(self, row: JobRow, **changes: Any) -> None:
        """Change fields of ``row`` (one of this model's) and repaint it."""
        for name, value in changes.items():
            setattr(row, name, value)
        if changes.get("state") == JobState.RUNNING and row.started is None:
            row.started = time.monotonic()
        i = self._rows.index(row)
        self._rows_changed(i, i)

    def finish_open_rows(self, batch: int, state: JobState, detail: str = "") -> None:
        """Rows of ``batch`` still queued or running end as ``state`` (cancel, failed checks)."""
        for row in self.rows_of(batch):
            if not row.state.finished:
                self.update(row, state=state, detail=detail or row.detail)

    def tick(self) -> None:
        """Running rows' elapsed time advances even between progress reports."""
        now = time.monotonic()
        for i, row in enumerate(self._rows):
            if row.state == JobState.RUNNING and row.started is not None:
                row.elapsed = now - row.started
                self.dataChanged.emit(self.index(i, Column.TIME), self.index(i, Column.TIME))

    # --- Qt model API ------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_for(index)
        if row is None:
            return None
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            where = row.output or row.destination
            parts = [row.title] + ([str(where)] if where is not None else [])
            if row.detail:
                parts.append(row.detail)
            return "\n".join(parts)
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.STATE:
            if row.state == JobState.FAILED:
                return QColor(ERROR_COLOR)
            if row.state == JobState.DONE:
                return QColor(DONE_COLOR)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (Column.TIME, Column.SIZE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == JobRole.PROGRESS:
            if row.state in (JobState.QUEUED, JobState.SKIPPED):
                return None  # no bar: nothing ran
            return 1.0 if row.state == JobState.DONE else float(row.fraction)
        if role == JobRole.STATE:
            return row.state
        if role == JobRole.PATH:
            return str(row.output) if row.output is not None else ""
        if role == JobRole.BATCH:
            return row.batch
        return None

    def _display(self, row: JobRow, col: Column) -> str:
        if col == Column.OUTPUT:
            return row.label if row.destination or row.output else f"{row.label} (temporary)"
        if col == Column.PROGRESS:
            if row.state in (JobState.QUEUED, JobState.SKIPPED):
                return ""
            return f"{(1.0 if row.state == JobState.DONE else row.fraction):.0%}"
        if col == Column.STATE:
            if row.state == JobState.RUNNING and row.detail == CANCELLING:
                return "Cancelling…"
            if row.state == JobState.FAILED and row.detail:
                return f"{row.state.value}: {row.detail}"  # the tooltip has the rest
            return row.state.value
        if col == Column.TIME:
            if row.state == JobState.QUEUED:
                return "—"
            left = row.seconds_left()
            text = _duration(row.elapsed)
            return f"{text} / ~{_duration(left)}" if left is not None else text
        if row.size is None:
            return "—"
        return human_bytes(row.size) if row.state == JobState.DONE else f"~{human_bytes(row.size)}"
