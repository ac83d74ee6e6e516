"""The download queue: a few files at once, each with pause, resume, cancel and retry.

Thread-based and Qt-free. ``DownloadManager`` runs ``max_parallel`` worker threads that take
queued tasks in order and hand each to ``transfer`` (which does the resumable, verified work).
Listeners get a ``DownloadStatus`` on every state change and, while bytes flow, at most every
``progress_interval`` seconds per task (speed and ETA over the last few seconds). Listeners
are called from worker threads: a GUI must hop to its own thread.

After a restart, ``restore()`` finds the partial downloads left in the models folder and lists
them as paused tasks, ready to resume where they stopped.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import QuantDeskError
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.names import destination_path
from desktop_app.core.hub.partial import DestinationLock, discard_partial, find_partials
from desktop_app.core.hub.session import HubConfig
from desktop_app.core.hub.transfer import (
    Control,
    Stopped,
    TransferSettings,
    TransferSpec,
    transfer,
)

__all__ = [
    "DownloadManager",
    "DownloadRequest",
    "DownloadState",
    "DownloadStatus",
]

log = logging.getLogger(__name__)

_SPEED_WINDOW = 5.0  # seconds of samples behind the speed figure


class DownloadState(enum.StrEnum):
    QUEUED = "queued"
    CHECKING = "checking"  # re-hashing the partial file before resuming
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (DownloadState.CHECKING, DownloadState.DOWNLOADING, DownloadState.VERIFYING)

    @property
    def is_settled(self) -> bool:
        """Nothing happens until someone acts: done, failed, cancelled or paused."""
        return self in (
            DownloadState.DONE,
            DownloadState.FAILED,
            DownloadState.CANCELLED,
            DownloadState.PAUSED,
        )


@dataclass(frozen=True)
class DownloadRequest:
    """One file of a repo, as the repo listing describes it."""

    repo_id: str
    filename: str
    size: int
    sha256: str | None = None  # the LFS sha256; None: asked from the hub before downloading
    revision: str = "main"  # prefer the listing's commit sha: the bytes cannot change under it


@dataclass(frozen=True)
class DownloadStatus:
    task_id: int
    repo_id: str
    filename: str
    dest: Path
    state: DownloadState
    done: int
    total: int
    speed: float  # bytes per second over the last few seconds
    eta: float | None  # seconds
    error: QuantDeskError | None = None
    resumed_from: int = 0
    already_present: bool = False

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0


_PHASES = {
    "checking": DownloadState.CHECKING,
    "downloading": DownloadState.DOWNLOADING,
    "verifying": DownloadState.VERIFYING,
}


class _Task:
    def __init__(self, task_id: int, request: DownloadRequest, root: Path, dest: Path) -> None:
        self.id = task_id
        self.request = request
        self.root = root  # the models folder it was listed under; it finishes there
        self.dest = dest
        self.state = DownloadState.QUEUED
        self.done = 0
        self.control = Control()
        self.error: QuantDeskError | None = None
        self.resumed_from = 0
        self.already_present = False
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.last_emit = 0.0

    def speed(self, now: float) -> float:
        while len(self.samples) > 2 and now - self.samples[0][0] > _SPEED_WINDOW:
            self.samples.popleft()
        if len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def status(self, now: float) -> DownloadStatus:
        speed = self.speed(now) if self.state is DownloadState.DOWNLOADING else 0.0
        total = self.request.size
        eta = (total - self.done) / speed if speed > 0 else None
        return DownloadStatus(
            task_id=self.id,
            repo_id=self.request.repo_id,
            filename=self.request.filename,
            dest=self.dest,
            state=self.state,
            done=self.done,
            total=total,
            speed=speed,
            eta=eta,
            error=self.error,
            resumed_from=self.resumed_from,
            already_present=self.already_present,
        )


Listener = Callable[[DownloadStatus], None]


class DownloadManager:
    """See the module docstring. Methods are thread-safe; ``close()`` before exit."""

    def __init__(
        self,
        models_root: Path,
        *,
        config: HubConfig | None = None,
        settings: TransferSettings | None = None,
        max_parallel: int = 2,
        progress_interval: float = 0.1,
    ) -> None:
        self.models_root = Path(models_root)
        self._config = config
        self.settings = settings or TransferSettings()
        self.max_parallel = max(1, max_parallel)
        self.progress_interval = progress_interval
        self._lock = threading.Condition()
        self._tasks: dict[int, _Task] = {}
        self._queue: collections.deque[int] = collections.deque()
        self._listeners: list[Listener] = []
        self._workers: list[threading.Thread] = []
        self._next_id = 1
        self._closed = False

    # --- configuration and listeners --------------------------------------------------

    @property
    def config(self) -> HubConfig:
        # Read per use: the offline switch or HF_ENDPOINT may change while the app runs.
        return self._config if self._config is not None else HubConfig.from_env()

    def set_config(self, config: HubConfig | None) -> None:
        self._config = config

    def set_models_root(self, models_root: Path) -> None:
        """New downloads go to ``models_root``; files already listed keep their destination."""
        with self._lock:
            self.models_root = Path(models_root)

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # --- tasks ---------------------------------------------------------------------------

    def add(self, request: DownloadRequest, *, start: bool = True) -> int:
        """Queue a file (names are validated now: ``HubError`` for a hostile one).

        The same destination already listed (and not cancelled) returns the existing task.
        """
        with self._lock:
            root = self.models_root
        dest = destination_path(root, request.repo_id, request.filename)
        return self._add(request, root, dest, start)

    def _add(self, request: DownloadRequest, root: Path, dest: Path, start: bool) -> int:
        with self._lock:
            if self._closed:
                raise RuntimeError("download manager is closed")
            for task in self._tasks.values():
                if task.dest == dest and task.state is not DownloadState.CANCELLED:
                    return task.id
            task = _Task(self._next_id, request, root, dest)
            self._next_id += 1
            self._tasks[task.id] = task
            if start:
                self._queue.append(task.id)
                self._ensure_workers()
                self._lock.notify_all()
            else:
                task.state = DownloadState.PAUSED
        self._emit(task, force=True)
        return task.id

    def restore(self, other_roots: Sequence[Path] = ()) -> list[int]:
        """List the partial downloads found in the models folder as paused tasks, and in
        ``other_roots`` (folders that were the models folder before the user moved it: a
        download paused there resumes there)."""
        ids = []
        roots = dict.fromkeys([self.models_root, *(Path(r) for r in other_roots)])
        for root in roots:
            for dest, record in find_partials(root):
                request = DownloadRequest(
                    record.repo_id, record.filename, record.size, record.sha256, record.revision
                )
                try:
                    expected = destination_path(root, record.repo_id, record.filename)
                except HubError:
                    continue  # a record naming something hostile is ignored, never trusted
                if expected != dest:
                    continue
                task_id = self._add(request, root, dest, start=False)
                with self._lock:
                    task = self._tasks[task_id]
                    task.done = task.resumed_from = record.bytes_done
                ids.append(task_id)
        return ids

    def pause(self, task_id: int) -> None:
        with self._lock:
            task = self._tasks[task_id]
            if task.state is DownloadState.QUEUED:
                self._queue.remove(task_id)
                task.state = DownloadState.PAUSED
            elif task.state.is_active:
                task.control.stop("pause")
                return  # the worker reports PAUSED once it has stopped
            else:
                return
        self._emit(task, force=True)

    def pause_all(self) -> None:
        """Pause every queued or running task (the app's offline switch does this)."""
        with self._lock:
            ids = [
                t.id
                for t in self._tasks.values()
                if t.state is DownloadState.QUEUED or t.state.is_active
            ]
        for task_id in ids:
            self.pause(task_id)

    def resume(self, task_id: int) -> None:
        """Queue a paused or failed task again (a failed one is a retry)."""
        with self._lock:
            task = self._tasks[task_id]
            if task.state not in (DownloadState.PAUSED, DownloadState.FAILED):
                return
            task.state = DownloadState.QUEUED
            task.error = None
            task.control = Control()
            self._queue.append(task_id)
            self._ensure_workers()
            self._lock.notify_all()
        self._emit(task, force=True)

    retry = resume

    def cancel(self, task_id: int) -> None:
        """Stop and delete the partial file (a finished file is left alone)."""
        with self._lock:
            task = self._tasks[task_id]
            if task.state.is_active:
                task.control.stop("cancel")
                return  # the worker deletes the partial file and reports CANCELLED
            if task.state in (DownloadState.DONE, DownloadState.CANCELLED):
                return
            if task.state is DownloadState.QUEUED:
                self._queue.remove(task_id)
            task.state = DownloadState.CANCELLED
            task.error = None
        if task.dest.parent.is_dir():
            lock = DestinationLock(task.dest)
            try:
                lock.acquire()
            except (HubError, OSError) as exc:  # another process holds it: leave its files
                log.info("partial of %s not deleted: %s", task.dest, exc)
            else:
                try:
                    discard_partial(task.dest)
                finally:
                    lock.release(remove=True)
        self._emit(task, force=True)

    def forget(self, task_id: int) -> None:
        """Drop a settled task from the list (its files stay as they are)."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None and task.state in (
                DownloadState.DONE,
                DownloadState.FAILED,
                DownloadState.CANCELLED,
            ):
                del self._tasks[task_id]

    def status(self, task_id: int) -> DownloadStatus:
        with self._lock:
            return self._tasks[task_id].status(time.monotonic())

    def statuses(self) -> list[DownloadStatus]:
        now = time.monotonic()
        with self._lock:
            return [t.status(now) for t in self._tasks.values()]

    def overall(self) -> tuple[int, int, float]:
        """(bytes done, bytes total, bytes per second) over unfinished tasks, for a status bar."""
        rows = [
            s
            for s in self.statuses()
            if s.state not in (DownloadState.DONE, DownloadState.CANCELLED)
        ]
        return sum(s.done for s in rows), sum(s.total for s in rows), sum(s.speed for s in rows)

    def wait(self, task_id: int, timeout: float | None = None) -> DownloadStatus:
        """Block until the task is done, failed, cancelled or paused (or ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._tasks[task_id].state.is_settled:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(left)
            return self._tasks[task_id].status(time.monotonic())

    def close(self, timeout: float | None = 10.0) -> None:
        """Pause whatever runs (partials are kept for next time) and stop the workers."""
        with self._lock:
            self._closed = True
            for task in self._tasks.values():
                if task.state.is_active:
                    task.control.stop("pause")
            self._lock.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    # --- workers -------------------------------------------------------------------------

    def _ensure_workers(self) -> None:
        # Called with the lock held.
        alive = [w for w in self._workers if w.is_alive()]
        self._workers = alive
        while len(self._workers) < min(self.max_parallel, len(self._queue) + self._active()):
            worker = threading.Thread(
                target=self._work, name=f"download-{len(self._workers) + 1}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    def _active(self) -> int:
        return sum(1 for t in self._tasks.values() if t.state.is_active)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    if not self._lock.wait(timeout=30.0) and not self._queue:
                        # Idle for a while: let the thread end; new work starts another.
                        if threading.current_thread() in self._workers:
                            self._workers.remove(threading.current_thread())
                        return
                if self._closed:
                    return
                task = self._tasks[self._queue.popleft()]
                task.state = DownloadState.DOWNLOADING  # connecting; "checking" if resuming
                task.samples.clear()
                control = task.control
            self._emit(task, force=True)
            self._run(task, control)

    def _run(self, task: _Task, control: Control) -> None:
        request = task.request
        spec = TransferSpec(
            task.root,  # not self.models_root: a folder switch must not move a listed task
            request.repo_id,
            request.filename,
            request.revision,
            request.size,
            request.sha256,
        )

        def on_progress(phase: str, done: int) -> None:
            now = time.monotonic()
            state = _PHASES.get(phase, DownloadState.DOWNLOADING)
            changed = state is not task.state
            task.state, task.done = state, done
            if state is DownloadState.DOWNLOADING:
                task.samples.append((now, done))
            self._emit(task, force=changed, now=now)

        try:
            result = transfer(spec, self.config, control, self.settings, on_progress)
        except Stopped as stop:
            new_state = DownloadState.CANCELLED if stop.reason == "cancel" else DownloadState.PAUSED
            self._settle(task, new_state, None)
        except QuantDeskError as exc:
            log.info("download of %s/%s failed: %s", request.repo_id, request.filename, exc)
            self._settle(task, DownloadState.FAILED, exc)
        except OSError as exc:  # unexpected I/O outside the transfer's own handling
            self._settle(task, DownloadState.FAILED, HubError("io_error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a worker must survive; the task shows it
            log.warning("download of %s failed unexpectedly", request.filename, exc_info=True)
            self._settle(task, DownloadState.FAILED, HubError("io_error", repr(exc)))
        else:
            task.resumed_from = result.resumed_from
            task.already_present = result.already_present
            task.done = request.size
            self._settle(task, DownloadState.DONE, None)

    def _settle(self, task: _Task, state: DownloadState, error: QuantDeskError | None) -> None:
        with self._lock:
            task.state = state
            task.error = error
            self._lock.notify_all()
        self._emit(task, force=True)

    def _emit(self, task: _Task, *, force: bool = False, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not force and now - task.last_emit < self.progress_interval:
            return
        task.last_emit = now
        with self._lock:
            status = task.status(now)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception:  # noqa: BLE001 - one bad listener must not stop a download
                log.warning("download listener failed", exc_info=True)
