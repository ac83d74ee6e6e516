"""Runs Convert-page batches on the heavy pool, one after another, and relays what they do.

``submit(spec)`` queues a ``ConvertBatch`` as one ``Op`` on the heavy pool (one thread: batches
never overlap, and never run beside another heavy job such as a library import). The Op checks
(``prepare``), starts the batch and waits for it, cancelling it when its ``CancelToken`` is set.
Events arrive on the batch's own threads; progress is throttled to about 10 per second per
batch, stage ends are relayed at once, all through queued signals to the GUI thread.

The log relays one line per tensor started (what llama.cpp's per-tensor output says) and the
quantizer's own warning and error lines, which the quantize job logs at DEBUG on the
``desktop_app.quantize.worker`` logger: a handler taps that logger while a batch runs.

Signals (GUI thread):
    planned(int, object): batch id, its ``StagePlan``s, once its checks passed.
    progressed(int, object): batch id, the latest ``StageProgress``.
    log_added(int, object): batch id, new log lines (str).
    stage_finished(int, object): batch id, ``StageFinished``.
    batch_finished(int, object): batch id, ``BatchFinished``.
    batch_failed(int, object): batch id, the exception that stopped it before anything ran
        (a failed check, or ``QuantizeCancelledError`` when cancelled while queued).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop_app.core.convert_batch import (
    BatchEvent,
    BatchFinished,
    BatchSpec,
    ConvertBatch,
    StageFinished,
    StageProgress,
    stage_labels,
)
from desktop_app.core.quantize_errors import QuantizeCancelledError
from desktop_app.core.quantize_launcher import QuantizeLauncher
from desktop_app.ui.tasks import CancelToken, Op

PROGRESS_INTERVAL = 0.1  # seconds between progress signals of one batch (about 10 Hz)
POLL_INTERVAL = 0.1  # how often the waiting Op checks its cancel token
WORKER_LOGGER = "desktop_app.quantize.worker"


class _WorkerLogTap(logging.Handler):
    """Collects the quantize worker's relayed llama.cpp lines while a batch runs."""

    def __init__(self, sink: _Relay) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.add_line(record.getMessage())


class _Relay:
    """Turns one batch's events (any thread) into throttled runner signals."""

    def __init__(self, runner: ConvertRunner, batch_id: int, labels: tuple[str, ...]) -> None:
        self._runner = runner
        self._id = batch_id
        self._labels = labels
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._latest: StageProgress | None = None
        self._last_sent = 0.0
        self._tensor: tuple[int, int] = (-1, -1)

    def add_line(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def on_event(self, event: BatchEvent) -> None:
        if isinstance(event, StageProgress):
            label = self._labels[event.stage] if event.stage < len(self._labels) else "?"
            with self._lock:
                if (event.stage, event.done) != self._tensor and event.tensor:
                    self._tensor = (event.stage, event.done)
                    self._lines.append(
                        f"[{label}] tensor {event.done + 1}/{event.total}: {event.tensor}"
                    )
                self._latest = event
                due = time.monotonic() - self._last_sent >= PROGRESS_INTERVAL
            if due:
                self.flush()
        elif isinstance(event, StageFinished):
            self.flush()
            self._runner._send(self._runner.stage_finished, self._id, event)
        elif isinstance(event, BatchFinished):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            latest, self._latest = self._latest, None
            self._last_sent = time.monotonic()
        if lines:
            self._runner._send(self._runner.log_added, self._id, lines)
        if latest is not None:
            self._runner._send(self._runner.progressed, self._id, latest)


class ConvertRunner(QObject):
    planned = Signal(int, object)
    progressed = Signal(int, object)
    log_added = Signal(int, object)
    stage_finished = Signal(int, object)
    batch_finished = Signal(int, object)
    batch_failed = Signal(int, object)

    def __init__(
        self,
        pool: QThreadPool,
        launcher: QuantizeLauncher | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._pool = pool
        self._launcher = launcher
        self._ids = itertools.count(1)
        self._tokens: dict[int, CancelToken] = {}  # batches queued or running

    def submit(self, spec: BatchSpec) -> int:
        batch_id = next(self._ids)
        token = CancelToken()
        self._tokens[batch_id] = token
        Op(self._execute, batch_id, spec, token).success(
            lambda result, b=batch_id: self._on_done(b, result)
        ).failure(lambda exc, b=batch_id: self._on_failed(b, exc)).owned_by(self).run_in(self._pool)
        return batch_id

    def cancel(self, batch_id: int) -> None:
        """Stop a batch: a queued one never starts, a running one's worker is killed."""
        token = self._tokens.get(batch_id)
        if token is not None:
            token.cancel()

    def active(self) -> list[int]:
        return list(self._tokens)

    def shutdown(self) -> None:
        """Cancel everything; the heavy pool's wait then ends promptly."""
        for token in self._tokens.values():
            token.cancel()

    # --- heavy pool thread --------------------------------------------------------------------

    def _send(self, signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the runner is gone (the page closed): nobody to tell

    def _execute(self, batch_id: int, spec: BatchSpec, token: CancelToken) -> BatchFinished:
        if token.cancelled:
            raise QuantizeCancelledError("cancelled before it started", path=spec.source)
        relay = _Relay(self, batch_id, stage_labels(spec.labels, spec.source.is_dir()))
        batch = ConvertBatch(spec, relay.on_event, launcher=self._launcher)
        plans = batch.prepare()
        self._send(self.planned, batch_id, plans)
        tap = _WorkerLogTap(relay)
        logger = logging.getLogger(WORKER_LOGGER)
        level = logger.level
        logger.addHandler(tap)
        logger.setLevel(logging.DEBUG)
        try:
            batch.start()
            cancel_sent = False
            while (result := batch.wait(POLL_INTERVAL)) is None:
                if token.cancelled and not cancel_sent:
                    cancel_sent = True
                    batch.cancel()
        finally:
            logger.removeHandler(tap)
            logger.setLevel(level)
        relay.flush()
        return result

    # --- GUI thread ---------------------------------------------------------------------------

    def _on_done(self, batch_id: int, result: BatchFinished) -> None:
        self._tokens.pop(batch_id, None)
        self.batch_finished.emit(batch_id, result)

    def _on_failed(self, batch_id: int, exc: BaseException) -> None:
        self._tokens.pop(batch_id, None)
        self.batch_failed.emit(batch_id, exc)
