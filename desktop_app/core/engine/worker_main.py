"""The model worker process: ``worker_main(conn)`` runs in a spawned child and owns one model.

Two threads share the pipe. The *reader* thread receives every request at once, so it can act
while the main thread is inside llama.cpp: a CancelRequest sets a flag (checked between tokens
and by the prompt's abort callback), a second GenerateRequest is refused with BUSY, a
ShutdownRequest or a closed pipe (the app exited or died) stops the worker. Everything else is
queued for the *main* thread, which runs requests one at a time (``session.ModelSession``).
Sends from both threads (and from logging) go through one lock.

Output: llama.cpp's log arrives through ``llama_backend``'s callback in Python logging, and lines
at WARNING or above are forwarded to the app as ``Log`` events. Python's own stdio, which
llama-cpp-python prints to with verbose=True, goes to logging at DEBUG, and fd 1 is pointed at
fd 2, so nothing the worker or native code prints can ever mix into the app's stdout (the CLI
streams replies and JSON there).
"""

from __future__ import annotations

import io
import logging
import os
import queue
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from desktop_app.core.engine.protocol import (
    CancelRequest,
    ErrorCode,
    Event,
    Failed,
    GenerateRequest,
    LoadRequest,
    Log,
    ShutdownRequest,
    Token,
    UnloadRequest,
    _CrashForTest,
)

log = logging.getLogger(__name__)

TEST_HOOKS_ENV = "QUANTDESK_ENGINE_TEST_HOOKS"
_TOKEN_INTERVAL = 0.05  # seconds: replies stream to the app at about 20 updates a second
_NATIVE_LOGGER = "llama_cpp.native"


class _Channel:
    """Sends events to the app; any thread. A broken pipe means the app is gone.

    Token events are batched: a reply's first token goes at once (time to first token), later
    ones at most every ``_TOKEN_INTERVAL`` (a list of events in one message), and any other
    event flushes the batch first, so order is kept. Each message wakes the app's reader thread
    and, through it, the GUI thread; on a 2-core machine those wake-ups land on the generating
    core, and sending every token cost a fast model 5-8% of its speed (benchmarks/RESULTS.md).
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._batch: list[Token] = []
        self._last_flush = 0.0
        self._streaming = 0  # request id of the last Token
        self.broken = False

    def send(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, Token):
                first = event.request_id != self._streaming
                self._streaming = event.request_id
                self._batch.append(event)
                if first or time.monotonic() - self._last_flush >= _TOKEN_INTERVAL:
                    self._flush()
                return
            self._flush()
            self._write(event)

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._write(batch[0] if len(batch) == 1 else batch)
        self._last_flush = time.monotonic()

    def _write(self, message: object) -> None:
        if self.broken:
            return
        try:
            self._conn.send(message)
        except (OSError, EOFError, ValueError):
            self.broken = True


class _ForwardLogs(logging.Handler):
    def __init__(self, channel: _Channel, cancelled: Any) -> None:
        super().__init__(logging.WARNING)
        self._channel = channel
        self._cancelled = cancelled

    def emit(self, record: logging.LogRecord) -> None:
        # A cancelled prompt decode makes llama.cpp log "failed to decode" errors: expected.
        if record.name == _NATIVE_LOGGER and self._cancelled():
            return
        try:
            line = record.getMessage()
            if record.exc_info:
                line += "\n" + logging.Formatter().formatException(record.exc_info)
            self._channel.send(Log(record.levelno, line))
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


class _LogStream(io.TextIOBase):
    """A text stream that turns lines into DEBUG log records."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip() and self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug("%s", line)
        return len(text)


def _route_output(channel: _Channel, cancelled: Any) -> None:
    try:
        sys.stdout.flush()
        os.dup2(2, 1)  # only this process: it owns its fds and has no other threads yet
    except (OSError, AttributeError, ValueError):
        pass
    stdio = logging.getLogger("desktop_app.engine.stdio")
    sys.stdout = _LogStream(stdio)
    sys.stderr = _LogStream(stdio)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)  # DEBUG lines (llama.cpp's chatter) cost one level check
    root.addHandler(_ForwardLogs(channel, cancelled))
    logging.captureWarnings(True)


def _read_requests(
    conn: Connection, channel: _Channel, state: Any, inbox: queue.SimpleQueue[Any]
) -> None:
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break  # the app closed the pipe or died
        except Exception:  # noqa: BLE001 - an undecodable message: skip it, keep serving
            log.warning("undecodable request", exc_info=True)
            continue
        received = time.perf_counter()
        rid = int(getattr(request, "request_id", 0))
        if isinstance(request, CancelRequest):
            state.cancel(rid)
            continue
        if isinstance(request, ShutdownRequest):
            break
        if isinstance(request, _CrashForTest):
            if os.environ.get(TEST_HOOKS_ENV) == "1":
                os.abort()
            channel.send(Failed(rid, ErrorCode.BAD_REQUEST, "test hooks are disabled"))
            continue
        if isinstance(request, GenerateRequest) and not state.reserve_generation(rid):
            channel.send(Failed(rid, ErrorCode.BUSY, "another reply is being generated"))
            continue
        if isinstance(request, LoadRequest | UnloadRequest):
            state.cancel(0)  # a running reply would only delay the model change
        inbox.put((request, received))
    state.stop()
    inbox.put(None)


def worker_main(conn: Connection) -> None:
    """Serve requests from ``conn`` until a ShutdownRequest or the pipe closes."""
    # Imported here, in the child: the app imports this module only to name the entry point.
    from desktop_app.core.engine.network_guard import install_from_env
    from desktop_app.core.engine.session import ModelSession, RequestState

    install_from_env()  # tests: refuse and report any network access (network_guard.py)

    # Ctrl-C in a terminal reaches the whole process group; the app decides what it means (the
    # chat command cancels the reply), so the worker only listens to its pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _Channel(conn)
    state = RequestState()
    _route_output(channel, state.cancelled)
    session = ModelSession(channel.send, state)
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    reader = threading.Thread(
        target=_read_requests, args=(conn, channel, state, inbox), name="requests", daemon=True
    )
    reader.start()
    try:
        while (item := inbox.get()) is not None:
            session.handle(*item)
            if channel.broken:
                state.stop()
    except Exception:  # noqa: BLE001 - report, then exit cleanly
        log.exception("model worker failed")
    finally:
        session.close()
        conn.close()
