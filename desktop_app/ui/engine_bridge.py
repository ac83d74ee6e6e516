"""Qt face of a model worker process: engine events arrive as signals on the GUI thread.

The core's ``ModelWorker`` calls back on its reader thread; this bridge re-emits each event
through a queued signal, so slots always run on the GUI thread. Token events are batched: the
GUI sees at most one ``tokens_arrived`` per ``TOKEN_FLUSH_MS`` however fast the model runs, so a
fast model cannot flood the event loop.

Signals:
    event_received(object): any protocol event except Token (GUI thread).
    tokens_arrived(list): a batch of Token events, in order (GUI thread).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktop_app.core.engine.client import ModelWorker
from desktop_app.core.engine.protocol import Event, Token

TOKEN_FLUSH_MS = 50


class EngineBridge(QObject):
    event_received = Signal(object)
    tokens_arrived = Signal(list)
    _event_from_reader = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending_tokens: list[Token] = []
        self._worker: ModelWorker | None = None
        # If the bridge is destroyed without shutdown() (a page dropped without closing), the
        # worker process must still end; the holder outlives the bridge for this.
        self._holder: list[ModelWorker | None] = [None]
        self.destroyed.connect(functools.partial(_shutdown_held_worker, self._holder))
        self._event_from_reader.connect(self._on_reader_event, Qt.ConnectionType.QueuedConnection)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(TOKEN_FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush_tokens)
        self._flush_timer.start()

    @property
    def worker(self) -> ModelWorker:
        """The worker process, spawned on first use (spawning returns at once)."""
        if self._worker is None:
            self._worker = ModelWorker(on_event=self._on_worker_event)
            self._holder[0] = self._worker
        return self._worker

    @property
    def has_worker(self) -> bool:
        return self._worker is not None and self._worker.alive

    def restart(self) -> ModelWorker:
        """After a crash: a fresh process (the old one is gone)."""
        self.shutdown()
        return self.worker

    def shutdown(self, timeout: float = 5.0) -> None:
        worker, self._worker = self._worker, None
        self._holder[0] = None
        if worker is not None:
            worker.shutdown(timeout)

    # Reader thread -> GUI thread.
    def _on_worker_event(self, event: Event) -> None:
        if isinstance(event, Token):
            with self._lock:
                self._pending_tokens.append(event)
            return
        try:
            self._event_from_reader.emit(event)
        except RuntimeError:
            pass  # the bridge was destroyed (window closing): nobody is listening

    @Slot(object)
    def _on_reader_event(self, event: Any) -> None:
        # Tokens that arrived before a terminal event must be delivered first.
        self._flush_tokens()
        self.event_received.emit(event)

    @Slot()
    def _flush_tokens(self) -> None:
        with self._lock:
            batch, self._pending_tokens = self._pending_tokens, []
        if batch:
            self.tokens_arrived.emit(batch)


def _shutdown_held_worker(holder: list[ModelWorker | None], *_args: object) -> None:
    worker, holder[0] = holder[0], None
    if worker is not None:
        worker.shutdown(timeout=2.0)
