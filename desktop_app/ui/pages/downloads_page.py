"""Downloads: every file being fetched, with progress, speed, time left, state and errors.

The page owns the app's ``DownloadsBridge`` (the manager itself is a service, shared with
Discover). At start it lists the partial downloads a previous run left (``restore``, on the io
pool) as paused rows, ready to resume where they stopped. Buttons act on the selected row:
Pause, Resume, Cancel, Retry, Remove from list; a finished file can be shown in its folder or
opened in Chat. Offline (the switch here, on Discover, or ``HF_HUB_OFFLINE``), running
downloads pause and resume by themselves when the app goes online again.

Signals:
    open_in_chat(str): load this finished model file in Chat.
    download_finished(str): a file was verified and placed in the models folder.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hub.downloads import DownloadState, DownloadStatus
from desktop_app.core.hub.errors import HubError
from desktop_app.messages import describe_error
from desktop_app.ui.downloads_bridge import DownloadsBridge, OverallProgress
from desktop_app.ui.models.downloads_model import Column, DownloadRole, DownloadsModel
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets.banner import Banner
from desktop_app.ui.widgets.row_delegates import ProgressDelegate

ERROR_STYLE = "color: #d64541;"
OFFLINE_BANNER = (
    "Offline: no connection is made. Downloads are paused and continue when you go online again."
)
OFFLINE_RESUME = "Offline mode is on: turn it off to download."
_PAUSABLE = (DownloadState.QUEUED, DownloadState.CHECKING, DownloadState.DOWNLOADING)
_REMOVABLE = (DownloadState.DONE, DownloadState.FAILED, DownloadState.CANCELLED)
_CANCELLABLE = (
    DownloadState.QUEUED,
    DownloadState.CHECKING,
    DownloadState.DOWNLOADING,
    DownloadState.VERIFYING,
    DownloadState.PAUSED,
    DownloadState.FAILED,
)


class DownloadsPage(QWidget):
    open_in_chat = Signal(str)
    download_finished = Signal(str)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.bridge = DownloadsBridge(services.downloads, services.offline, self)

        title = QLabel("Downloads")
        title.setObjectName("pageTitle")
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.offline_box = QCheckBox("Offline mode")
        self.offline_box.setToolTip("When on, QuantDesk opens no network connection at all")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(self.summary, 1)
        header.addWidget(self.offline_box)
        self.banner = Banner()

        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop and delete the part downloaded so far")
        self.retry_button = QPushButton("Retry")
        self.remove_button = QPushButton("Remove from list")
        self.remove_button.setToolTip("Forget this row (a downloaded file stays where it is)")
        self.reveal_button = QPushButton("Show in folder")
        self.chat_button = QPushButton("Open in Chat")
        toolbar = QHBoxLayout()
        row_actions = (
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.retry_button,
            self.remove_button,
        )
        for button in row_actions:
            toolbar.addWidget(button)
        toolbar.addStretch(1)
        toolbar.addWidget(self.reveal_button)
        toolbar.addWidget(self.chat_button)

        self.model = DownloadsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        # Error sentences wrap (the row grows) rather than being cut off.
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setMinimumSectionSize(30)  # room for the progress bar
        self.table.setItemDelegateForColumn(
            Column.PROGRESS, ProgressDelegate(DownloadRole.FRACTION, self.table)
        )
        heads = self.table.horizontalHeader()
        heads.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        heads.setSectionResizeMode(Column.PROGRESS, QHeaderView.ResizeMode.Fixed)
        heads.resizeSection(Column.PROGRESS, 160)
        heads.setSectionResizeMode(Column.MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel(
            "Nothing is downloading. Find a model on Discover and press Download next to the "
            "quant that fits."
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.notice = QLabel("")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addLayout(toolbar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.notice)

        self.bridge.status_changed.connect(self._on_bridge_status_changed)
        self.bridge.overall_changed.connect(self._on_bridge_overall_changed)
        self.bridge.finished.connect(self._on_bridge_finished)
        self.bridge.paused_offline_changed.connect(self._on_bridge_paused_offline_changed)
        services.offline.changed.connect(self._on_offline_changed)
        self.offline_box.toggled.connect(self._on_offline_box_toggled)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.retry_button.clicked.connect(self._on_resume_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.reveal_button.clicked.connect(self._on_reveal_clicked)
        self.chat_button.clicked.connect(self._on_chat_clicked)
        self._on_offline_changed(services.offline.is_offline())
        self._update_empty()
        # Partial downloads of a previous run, listed as paused (a walk of the models folders:
        # one paused before the user put another folder first resumes where it started).
        others = services.settings.models_folders(services.paths.models)[1:]
        restore = Op(services.downloads.restore, others)
        restore.success(lambda _ids: self.bridge.refresh())
        restore.failure(self._on_restore_failed).owned_by(self).run_in(services.pools.io)

    def shutdown(self) -> None:
        """Stop listening to the manager (app.py closes the manager itself)."""
        self.bridge.close()

    # --- rows ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_bridge_status_changed(self, status: DownloadStatus) -> None:
        self.model.update_status(status)
        self._update_empty()
        if status.task_id == self.selected_task():
            self._update_buttons()

    @Slot(object)
    def _on_bridge_overall_changed(self, overall: OverallProgress) -> None:
        n = self.model.rowCount()
        done = sum(1 for s in self.model.statuses() if s.state is DownloadState.DONE)
        text = f"{n} download{'s' if n != 1 else ''}"
        if overall.count:
            text += f", {overall.count} running ({100 * overall.fraction:.0f}%)"
        if done:
            text += f", {done} finished"
        self.summary.setText(text if n else "")

    @Slot(object)
    def _on_bridge_finished(self, status: DownloadStatus) -> None:
        self.download_finished.emit(str(status.dest))

    @Slot(object)
    def _on_bridge_paused_offline_changed(self, ids: frozenset[int]) -> None:
        self.model.set_paused_offline(ids)

    def _update_empty(self) -> None:
        has_rows = self.model.rowCount() > 0
        self.table.setVisible(has_rows)
        self.empty.setVisible(not has_rows)

    def selected_task(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(DownloadRole.TASK_ID) if rows else None

    def select_task(self, task_id: int) -> None:
        row = self.model.row_of(task_id)
        if row < 0:
            raise KeyError(task_id)
        self.table.selectRow(row)

    def _selected_status(self) -> DownloadStatus | None:
        task_id = self.selected_task()
        return self.model.status_of(task_id) if task_id is not None else None

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        s = self._selected_status()
        state = s.state if s is not None else None
        offline = self._services.offline.is_offline()
        self.pause_button.setEnabled(state in _PAUSABLE)
        self.resume_button.setEnabled(state is DownloadState.PAUSED and not offline)
        self.retry_button.setEnabled(state is DownloadState.FAILED and not offline)
        for button in (self.resume_button, self.retry_button):
            button.setToolTip(OFFLINE_RESUME if offline else "")
        self.cancel_button.setEnabled(state in _CANCELLABLE)
        self.remove_button.setEnabled(state in _REMOVABLE)
        self.reveal_button.setEnabled(s is not None)
        model_file = s is not None and s.dest.name.lower().endswith(".gguf")
        self.chat_button.setEnabled(state is DownloadState.DONE and model_file)

    # --- buttons -------------------------------------------------------------------------------

    @Slot()
    def _on_pause_clicked(self) -> None:
        task_id = self.selected_task()
        if task_id is not None:
            self.bridge.pause(task_id)

    @Slot()
    def _on_resume_clicked(self) -> None:
        task_id = self.selected_task()
        if task_id is None:
            return
        try:
            self.bridge.resume(task_id)
        except HubError as exc:
            self._show_notice(f"Not resumed: {describe_error(exc)}.", error=True)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        task_id = self.selected_task()
        if task_id is not None:
            # A paused download's partial file is deleted by cancel: not on the GUI thread.
            cancel = Op(self._services.downloads.cancel, task_id).failure(self._on_action_failed)
            cancel.owned_by(self).run_in(self._services.pools.io)

    @Slot()
    def _on_remove_clicked(self) -> None:
        s = self._selected_status()
        if s is not None and s.state in _REMOVABLE:
            self.bridge.forget(s.task_id)
            self.model.remove_task(s.task_id)
            self._update_empty()
            self._update_buttons()

    @Slot()
    def _on_reveal_clicked(self) -> None:
        s = self._selected_status()
        if s is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(s.dest.parent)))

    @Slot()
    def _on_chat_clicked(self) -> None:
        s = self._selected_status()
        if s is not None and s.state is DownloadState.DONE:
            self.open_in_chat.emit(str(s.dest))

    @Slot(QModelIndex)
    def _on_table_double_clicked(self, _index: QModelIndex) -> None:
        self._on_chat_clicked()

    def _on_action_failed(self, exc: BaseException) -> None:
        self._show_notice(describe_error(exc), error=True)

    def _on_restore_failed(self, exc: BaseException) -> None:
        text = f"Earlier downloads could not be listed: {describe_error(exc)}"
        self._show_notice(text, error=True)

    def _show_notice(self, text: str, *, error: bool = False) -> None:
        self.notice.setText(text)
        self.notice.setStyleSheet(ERROR_STYLE if error else "")

    # --- offline switch ------------------------------------------------------------------------

    @Slot(bool)
    def _on_offline_box_toggled(self, checked: bool) -> None:
        self._services.offline.set_offline(checked)

    @Slot(bool)
    def _on_offline_changed(self, offline: bool) -> None:
        switch = self._services.offline
        self.offline_box.blockSignals(True)
        self.offline_box.setChecked(offline)
        self.offline_box.blockSignals(False)
        self.offline_box.setEnabled(not switch.forced_by_environment)
        self.banner.show_text(OFFLINE_BANNER if offline else "", "offline")
        self._update_buttons()
