"""The one bridge from Qt to core work: run a function off the GUI thread, get the result back.

    Op(read_model_facts, path).success(self._show).failure(self._show_error).run_in(pool)

The function runs on a QThreadPool worker; ``success``/``failure`` callbacks run on the GUI
thread (queued signal). Callbacks must not be called for an owner that is gone: pass ``owner``
(a QObject) and results arriving after it was destroyed are dropped.

Rules (see ../shared/reference/style.md, threading): the function never touches widgets or item
models; payloads are immutable data; long jobs accept a ``CancelToken``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class CancelToken:
    """Set by the GUI, checked by the worker between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


# Every relay is kept alive here until its result is delivered (GUI thread only): otherwise
# Python could collect it before the queued signal reaches it. Relays are deliberately not
# parented to their owner: a parented relay whose callback drops the owner's last reference
# would be deleted twice by PySide (once with the owner, once by deleteLater) and crash.
_relays_in_flight: set[_Relay] = set()


class _Relay(QObject):
    """Lives on the GUI thread; the worker emits through it, so ``_deliver`` (a slot of a GUI
    thread object) runs on the GUI thread via a queued connection."""

    finished = Signal(object, object)  # (result, exception)

    def __init__(
        self,
        owner: QObject | None,
        on_success: Callable[[Any], None] | None,
        on_failure: Callable[[BaseException], None] | None,
    ) -> None:
        super().__init__()
        self._owner = weakref.ref(owner) if owner is not None else None
        self._on_success = on_success
        self._on_failure = on_failure
        self.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def _owner_gone(self) -> bool:
        if self._owner is None:
            return False
        owner = self._owner()
        return owner is None or not shiboken6.isValid(owner)

    @Slot(object, object)
    def _deliver(self, result: Any, exc: BaseException | None) -> None:
        _relays_in_flight.discard(self)
        self.deleteLater()
        if self._owner_gone():
            return  # the page that asked is gone: nobody to tell
        if exc is not None:
            if self._on_failure is not None:
                self._on_failure(exc)
            else:
                log.error("background operation failed", exc_info=exc)
        elif self._on_success is not None:
            self._on_success(result)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn = fn
        self._relay = relay
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result, error = self._fn(), None
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the GUI
            result, error = None, exc
        try:
            self._relay.finished.emit(result, error)
        except RuntimeError:
            pass  # the relay was destroyed meanwhile (application shutting down)


class Op:
    """A background operation with fluent callbacks (after Anki's CollectionOp)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._call = lambda: fn(*args, **kwargs)
        self._on_success: Callable[[Any], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None
        self._owner: QObject | None = None

    def success(self, callback: Callable[[Any], None]) -> Op:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], None]) -> Op:
        self._on_failure = callback
        return self

    def owned_by(self, owner: QObject) -> Op:
        self._owner = owner
        return self

    def run_in(self, pool: QThreadPool) -> None:
        relay = _Relay(self._owner, self._on_success, self._on_failure)
        _relays_in_flight.add(relay)
        pool.start(_Runnable(self._call, relay))


class Pools:
    """The app's named thread pools, created once in app.py and awaited on shutdown.

    ``io`` reads files and estimates; ``heavy`` (one thread) serialises jobs that write large
    files or compete for cores, so they never run two at a time; ``db`` (one thread that never
    expires) runs every chat-history call in submission order on the same thread.
    """

    def __init__(self) -> None:
        self.io = QThreadPool()
        self.io.setMaxThreadCount(4)
        self.heavy = QThreadPool()
        self.heavy.setMaxThreadCount(1)
        self.db = QThreadPool()
        self.db.setMaxThreadCount(1)
        self.db.setExpiryTimeout(-1)

    def all(self) -> tuple[QThreadPool, ...]:
        return (self.io, self.heavy, self.db)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        ok = True
        for pool in self.all():
            if pool is not self.db:  # queued history writes must still reach the disk
                pool.clear()
            ok = pool.waitForDone(timeout_ms) and ok
        return ok
