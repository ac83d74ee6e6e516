"""Pausing and cancelling a transfer from another thread, at once.

``Control.stop`` sets a flag the transfer checks between chunks, wakes any backoff sleep, and
calls the hang-up the transfer registered for its current response: a read blocked on a
stalled connection returns immediately instead of after the stall timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

import httpx2

__all__ = ["Control", "Stopped", "hang_up"]


class Stopped(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The transfer was paused (partial kept) or cancelled (partial deleted)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Control:
    """Pause or cancel a running transfer from another thread.

    ``stop`` takes effect at once even while the transfer is blocked reading a stalled
    connection: the transfer registers a hang-up (``on_stop``) that closes the socket.
    """

    def __init__(self) -> None:
        self._reason: str | None = None
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._abort: Callable[[], None] | None = None

    def stop(self, reason: str) -> None:
        with self._lock:
            if self._reason != "cancel":  # cancel wins over pause
                self._reason = reason
            abort = self._abort
        self._event.set()
        if abort is not None:
            abort()

    def on_stop(self, abort: Callable[[], None] | None) -> None:
        """Call ``abort`` (from the stopping thread) when stopped while it is set."""
        with self._lock:
            self._abort = abort
            stopped = self._reason is not None
        if stopped and abort is not None:
            abort()

    @property
    def stopping(self) -> bool:
        return self._reason is not None

    def check(self) -> None:
        if self._reason is not None:
            raise Stopped(self._reason)

    def sleep(self, seconds: float) -> None:
        """Wait, waking up at once when stopped."""
        self._event.wait(max(0.0, seconds))
        self.check()


def hang_up(resp: httpx2.Response) -> None:
    """Shut the response's socket down: a read blocked on it returns at once (thread-safe)."""
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
