"""The Downloads list: one row per download task, updated in place from ``DownloadStatus``es.

Statuses arrive through ``DownloadsBridge`` (already on the GUI thread, throttled); a task
seen for the first time is appended, a known one updates its row with a ranged
``dataChanged``. The progress column carries the fraction in ``DownloadRole.FRACTION`` for
``ProgressDelegate``. Errors are the sentences of ``desktop_app.messages``.
"""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.core.hub.downloads import DownloadState, DownloadStatus
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_error
from desktop_app.ui.models.row_table import RowTableModel

Index = QModelIndex | QPersistentModelIndex

ERROR_COLOR = "#d64541"
DONE_COLOR = "#2e9d4f"

STATE_TEXT = {
    DownloadState.QUEUED: "Queued",
    DownloadState.CHECKING: "Checking",
    DownloadState.DOWNLOADING: "Downloading",
    DownloadState.VERIFYING: "Verifying",
    DownloadState.PAUSED: "Paused",
    DownloadState.DONE: "Done",
    DownloadState.FAILED: "Failed",
    DownloadState.CANCELLED: "Cancelled",
}


class Column(enum.IntEnum):
    FILE = 0
    REPO = 1
    PROGRESS = 2
    SIZE = 3
    SPEED = 4
    ETA = 5
    STATE = 6
    MESSAGE = 7


HEADERS = {
    Column.FILE: "File",
    Column.REPO: "Repo",
    Column.PROGRESS: "Progress",
    Column.SIZE: "Size",
    Column.SPEED: "Speed",
    Column.ETA: "Time left",
    Column.STATE: "State",
    Column.MESSAGE: "Message",
}
_RIGHT = {Column.SIZE, Column.SPEED, Column.ETA}


class DownloadRole(enum.IntEnum):
    TASK_ID = int(Qt.ItemDataRole.UserRole) + 1
    STATE = enum.auto()  # DownloadState value (str)
    FRACTION = enum.auto()  # float 0..1
    DEST = enum.auto()  # str: where the finished file is (or will be)


# Failures after which the downloaded bytes were thrown away (the file was not the hub's).
_DISCARDED = frozenset({"checksum_mismatch", "size_mismatch"})


def fraction(status: DownloadStatus) -> float:
    """The part of the file on disk: none once a damaged download was discarded."""
    code = getattr(status.error, "code", None)
    if status.state is DownloadState.FAILED and code in _DISCARDED:
        return 0.0
    return status.fraction


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def message_text(status: DownloadStatus, paused_offline: bool = False) -> str:
    if status.error is not None:
        text = describe_error(status.error)
        return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
    if status.state is DownloadState.DONE:
        if status.already_present:
            return "Already in the models folder (sha256 verified)."
        if status.resumed_from:
            return f"Verified (sha256); resumed at {human_bytes(status.resumed_from)}."
        return "Verified (sha256)."
    if status.state is DownloadState.PAUSED:
        if paused_offline:
            return "Paused while offline; resumes when you go online."
        return f"{human_bytes(status.done)} kept; resume continues from there."
    if status.state is DownloadState.CHECKING:
        return "Checking the part already downloaded."
    if status.state is DownloadState.VERIFYING:
        return "Checking the sha256 against the hub's."
    return ""


class DownloadsModel(RowTableModel[DownloadStatus]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__([HEADERS[c] for c in Column], parent=parent)
        self._row_of: dict[int, int] = {}
        self._paused_offline: frozenset[int] = frozenset()

    # --- updates ---------------------------------------------------------------------------

    def update_status(self, status: DownloadStatus) -> None:
        row = self._row_of.get(status.task_id)
        if row is None:
            # Known before the insert signals fire, so their slots can look the task up.
            self._row_of[status.task_id] = len(self._rows)
            self._append_rows([status])
            return
        self._rows[row] = status
        self._rows_changed(row, row)

    def remove_task(self, task_id: int) -> None:
        row = self._row_of.get(task_id)
        if row is None:
            return
        self._remove_rows(row, row)
        self._row_of = {s.task_id: i for i, s in enumerate(self._rows)}

    def set_paused_offline(self, task_ids: frozenset[int]) -> None:
        self._paused_offline = task_ids
        if self._rows:
            self.dataChanged.emit(
                self.index(0, Column.MESSAGE), self.index(len(self._rows) - 1, Column.MESSAGE)
            )

    # --- access ----------------------------------------------------------------------------

    def statuses(self) -> tuple[DownloadStatus, ...]:
        return self.rows()

    def status_at(self, row: int) -> DownloadStatus:
        return self.row_at(row)

    def status_of(self, task_id: int) -> DownloadStatus | None:
        row = self._row_of.get(task_id)
        return self._rows[row] if row is not None else None

    def row_of(self, task_id: int) -> int:
        return self._row_of.get(task_id, -1)

    # --- Qt API ----------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        s = self.row_for(index)
        if s is None:
            return None
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == Column.MESSAGE:
                return self._display(s, col) or None
            return str(s.dest) if col == Column.FILE else None
        if role == Qt.ItemDataRole.ForegroundRole and col in (Column.STATE, Column.MESSAGE):
            if s.state is DownloadState.FAILED:
                return QColor(ERROR_COLOR)
            if s.state is DownloadState.DONE:
                return QColor(DONE_COLOR)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _RIGHT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == DownloadRole.TASK_ID:
            return s.task_id
        if role == DownloadRole.STATE:
            return s.state.value
        if role == DownloadRole.FRACTION:
            return fraction(s)
        if role == DownloadRole.DEST:
            return str(s.dest)
        return None

    def _display(self, s: DownloadStatus, col: Column) -> str:
        if col == Column.FILE:
            return s.dest.name
        if col == Column.REPO:
            return s.repo_id
        if col == Column.PROGRESS:
            return f"{100.0 * fraction(s):.0f}%"
        if col == Column.SIZE:
            if s.state is DownloadState.DONE:
                return human_bytes(s.total)
            return f"{human_bytes(fraction(s) * s.total)} / {human_bytes(s.total)}"
        if col == Column.SPEED:
            return f"{human_bytes(s.speed)}/s" if s.state is DownloadState.DOWNLOADING else ""
        if col == Column.ETA:
            return format_eta(s.eta) if s.state is DownloadState.DOWNLOADING else ""
        if col == Column.STATE:
            return STATE_TEXT[s.state]
        return message_text(s, s.task_id in self._paused_offline)
