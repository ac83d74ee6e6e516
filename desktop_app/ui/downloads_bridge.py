"""The Qt side of the app's one ``DownloadManager``: its reports as GUI-thread signals.

The manager calls listeners from its worker threads, up to ten times a second per download.
The bridge's listener only stores the newest ``DownloadStatus`` per task (under a lock) and,
when nothing was waiting, wakes the GUI thread with a queued signal; the GUI thread then
delivers everything waiting at most every ``interval_ms`` (10 Hz overall, however many
downloads run). A state that lasts less than one interval may be skipped; the newest state
never is.

The bridge also applies the offline switch: going offline pauses every queued or running
download (no connection stays open) and going online again resumes exactly those. Starting
or resuming a download while offline is refused with ``HubError("offline")``.

Signals (GUI thread):
    status_changed(object): a ``DownloadStatus`` (frozen).
    overall_changed(object): an ``OverallProgress`` after each delivery.
    finished(object): the ``DownloadStatus`` of a download that just became DONE.
    paused_offline_changed(object): the frozenset of task ids paused by going offline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktop_app.core.hub.downloads import (
    DownloadManager,
    DownloadRequest,
    DownloadState,
    DownloadStatus,
)
from desktop_app.core.hub.errors import HubError
from desktop_app.core.paths import AppPaths
from desktop_app.ui.offline import OfflineSwitch

INTERVAL_MS = 100

_RUNNING = (
    DownloadState.QUEUED,
    DownloadState.CHECKING,
    DownloadState.DOWNLOADING,
    DownloadState.VERIFYING,
)


@dataclass(frozen=True)
class OverallProgress:
    """Downloads queued or running, for the status bar."""

    count: int
    done: int
    total: int
    speed: float

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


def default_download_manager() -> DownloadManager:
    """The app's download queue into QuantDesk's models folder (``Services`` default)."""
    return DownloadManager(AppPaths.default().models)


def _require_online(manager: DownloadManager, offline: OfflineSwitch) -> None:
    if offline.is_offline():
        raise HubError("offline", "offline mode is on")
    # The endpoint and token are read now: HF_ENDPOINT may have changed since.
    manager.set_config(offline.hub_config())


def queue_download(
    manager: DownloadManager, offline: OfflineSwitch, request: DownloadRequest
) -> int:
    """Add a download to the app's queue; refused with ``HubError("offline")`` when offline.

    Any page may call this; the Downloads page's bridge sees the new task through its listener.
    """
    _require_online(manager, offline)
    return manager.add(request)


class DownloadsBridge(QObject):
    status_changed = Signal(object)
    overall_changed = Signal(object)
    finished = Signal(object)
    paused_offline_changed = Signal(object)
    _wake = Signal()  # emitted by worker threads; delivered queued on the GUI thread

    def __init__(
        self,
        manager: DownloadManager,
        offline: OfflineSwitch,
        parent: QObject | None = None,
        *,
        interval_ms: int = INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self._offline = offline
        self._interval = interval_ms / 1000.0
        self._lock = threading.Lock()
        self._pending: dict[int, DownloadStatus] = {}
        self._latest: dict[int, DownloadStatus] = {}
        self._paused_offline: frozenset[int] = frozenset()
        self._last_flush = 0.0
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._wake.connect(self._on_wake, Qt.ConnectionType.QueuedConnection)
        offline.changed.connect(self._on_offline_changed)
        manager.set_config(offline.hub_config())
        manager.add_listener(self._on_status)
        self.refresh()  # tasks added before the bridge existed

    def refresh(self) -> None:
        """Deliver every task's current status again (``restore`` sets the bytes already
        downloaded after it has reported the task, so the Downloads page asks after it)."""
        for status in self.manager.statuses():
            self._on_status(status)

    # --- actions (GUI thread) --------------------------------------------------------------

    def add(self, request: DownloadRequest) -> int:
        """Queue a download (``HubError``: offline, or a name the core refuses)."""
        return queue_download(self.manager, self._offline, request)

    def resume(self, task_id: int) -> None:
        """Resume a paused download or retry a failed one (``HubError`` when offline)."""
        _require_online(self.manager, self._offline)
        self._set_paused_offline(self._paused_offline - {task_id})
        self.manager.resume(task_id)

    def pause(self, task_id: int) -> None:
        self._set_paused_offline(self._paused_offline - {task_id})
        self.manager.pause(task_id)

    @property
    def paused_offline(self) -> frozenset[int]:
        return self._paused_offline

    def latest(self) -> tuple[DownloadStatus, ...]:
        """The newest status of every task, as delivered so far."""
        return tuple(self._latest.values())

    def close(self) -> None:
        """Stop listening (the manager itself is closed by app.py)."""
        self._closed = True
        self.manager.remove_listener(self._on_status)
        self._timer.stop()

    # --- offline switch --------------------------------------------------------------------

    @Slot(bool)
    def _on_offline_changed(self, offline: bool) -> None:
        self.manager.set_config(self._offline.hub_config())
        if offline:
            running = {s.task_id for s in self.manager.statuses() if s.state in _RUNNING}
            self.manager.pause_all()
            self._set_paused_offline(self._paused_offline | running)
            return
        waiting = self._paused_offline
        self._set_paused_offline(frozenset())
        for task_id in sorted(waiting):
            try:
                self.manager.resume(task_id)  # only a task still paused moves
            except KeyError:
                pass  # removed from the list meanwhile

    def _set_paused_offline(self, ids: frozenset[int]) -> None:
        if ids != self._paused_offline:
            self._paused_offline = ids
            self.paused_offline_changed.emit(ids)

    # --- reports from worker threads -------------------------------------------------------

    def _on_status(self, status: DownloadStatus) -> None:
        # Any thread. Only plain Python here; the GUI thread does the rest.
        with self._lock:
            wake = not self._pending
            self._pending[status.task_id] = status
        if wake and not self._closed:
            try:
                self._wake.emit()
            except RuntimeError:
                pass  # the bridge was destroyed while a download reported

    @Slot()
    def _on_wake(self) -> None:
        if self._closed or self._timer.isActive():
            return
        wait = self._interval - (time.monotonic() - self._last_flush)
        self._timer.start(max(0, int(wait * 1000)))

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if self._closed or not pending:
            return
        self._last_flush = time.monotonic()
        for task_id, status in pending.items():
            before = self._latest.get(task_id)
            self._latest[task_id] = status
            self.status_changed.emit(status)
            if status.state is DownloadState.DONE and (
                before is None or before.state is not DownloadState.DONE
            ):
                self.finished.emit(status)
        self.overall_changed.emit(self.overall())

    def forget(self, task_id: int) -> None:
        """Drop a finished, failed or cancelled task from the list."""
        self.manager.forget(task_id)
        self._latest.pop(task_id, None)
        self.overall_changed.emit(self.overall())

    def overall(self) -> OverallProgress:
        rows = [s for s in self._latest.values() if s.state in _RUNNING]
        return OverallProgress(
            count=len(rows),
            done=sum(s.done for s in rows),
            total=sum(s.total for s in rows),
            speed=sum(s.speed for s in rows),
        )
