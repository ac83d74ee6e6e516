"""Qt face of a comparison run: the core runner's events arrive on the GUI thread in batches.

``run_compare`` blocks for seconds to minutes and reports from its own pane threads; it runs on
the ``heavy`` pool (it competes for every core, like convert and quantize). Its events are
queued under a lock and handed to the GUI every ``FLUSH_MS`` as one list, so three panes
streaming ~20 tokens/s each wake the GUI ~30 times a second, not 60 (and never once per token).

Signals:
    events_arrived(list): CompareEvents in the order the runner sent them (GUI thread).
    finished(object): the CompareResult, after its events were delivered (GUI thread).
    failed(object): the exception that stopped the run before any pane ran (GUI thread).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot

from desktop_app.core.compare.results import CompareEvent, CompareResult, CompareSpec, RunPlan
from desktop_app.ui.tasks import CancelToken, Op

FLUSH_MS = 30


class CompareBridge(QObject):
    events_arrived = Signal(list)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(
        self, pool: QThreadPool, cache_dir: Path | None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pool = pool
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._pending: list[CompareEvent] = []
        self._token: CancelToken | None = None
        self._ended = threading.Event()
        self._ended.set()
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self._flush)

    @property
    def running(self) -> bool:
        return self._token is not None

    def start(
        self, spec: CompareSpec, *, plan: RunPlan | None = None, available: int | None = None
    ) -> None:
        """Start a run (one at a time: a second start while running is ignored)."""
        if self._token is not None:
            return
        from desktop_app.core.compare.runner import run_compare

        token = CancelToken()
        self._token = token
        ended = threading.Event()
        self._ended = ended

        def run() -> CompareResult:
            try:
                return run_compare(
                    spec,
                    on_event=self._queue,
                    cancelled=lambda: token.cancelled,
                    cache_dir=self._cache_dir,
                    available=available,
                    plan=plan,
                )
            finally:
                ended.set()

        self._timer.start()
        Op(run).success(self._on_done).failure(self._on_failed).owned_by(self).run_in(self._pool)

    @Slot()
    def cancel(self) -> None:
        """Stop every pane at once (the runner ends its workers)."""
        if self._token is not None:
            self._token.cancel()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel and wait until the runner has ended its workers (window closing)."""
        self.cancel()
        return self._ended.wait(timeout)

    # Runner threads -> queue; the GUI drains it on the timer.
    def _queue(self, event: CompareEvent) -> None:
        with self._lock:
            self._pending.append(event)

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self.events_arrived.emit(batch)

    def _end(self) -> None:
        self._flush()  # every event the runner sent comes before the end
        self._timer.stop()
        self._token = None

    def _on_done(self, result: CompareResult) -> None:
        self._end()
        self.finished.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self._end()
        self.failed.emit(exc)
