"""One QuantDesk per user and config folder: a second start brings the first window forward.

Two parts, so a crash never leaves QuantDesk unable to start:

* a ``QLockFile`` in the config folder decides who is first. It records the owner's PID; a lock
  whose process is gone (a crash, ``kill -9``) is stale and taken over (``setStaleLockTime(0)``:
  staleness by PID only, never by age, as the Qt docs advise for locks held for a long time);
* the first instance listens on a ``QLocalServer`` named after the user and the config folder.
  A later start connects, sends ``activate``, waits for ``ok`` and exits 0; the first raises
  its window. When the lock is held but nobody answers, the later start says why and exits 1.

Two folders (``QUANTDESK_HOME`` in tests, portable copies) are two independent instances.
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_FILE_NAME = "quantdesk.lock"
ACTIVATE = b"activate\n"
ACK = b"ok\n"
TIMEOUT_MS = 3000


class Outcome(enum.Enum):
    FIRST = "first"  # this process is the instance; go on starting
    ACTIVATED = "activated"  # another instance was asked to come forward
    UNREACHABLE = "unreachable"  # another instance holds the lock but did not answer


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    detail: str = ""  # why the other instance could not be reached
    pid: int | None = None  # the lock holder's process id, when known


def server_name(config: Path) -> str:
    """A local socket name per user and config folder (short: Unix socket paths are limited)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "user"
    digest = hashlib.sha256(f"{user}\0{config.resolve()}".encode()).hexdigest()[:16]
    return f"quantdesk-{digest}"


class SingleInstance(QObject):
    """Signals: activation_requested(): a later start asked this instance to come forward."""

    activation_requested = Signal()

    def __init__(self, config: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        config.mkdir(parents=True, exist_ok=True)
        self._name = server_name(config)
        self._lock = QLockFile(str(config / LOCK_FILE_NAME))
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None
        self._sockets: set[QLocalSocket] = set()  # connections from later starts, until closed

    @property
    def name(self) -> str:
        return self._name

    def claim(self) -> Claim:
        """Become the instance, or hand over to the one already running."""
        if self._lock.tryLock(100):
            self._listen()
            return Claim(Outcome.FIRST)
        if self._lock.error() != QLockFile.LockError.LockFailedError:
            # Permission denied or an unknown error: running unguarded beats not running.
            log.warning("instance lock unusable (%s); starting anyway", self._lock.error())
            return Claim(Outcome.FIRST)
        # PySide returns (pid, host name, app name); (0, "", "") when the file is unreadable.
        pid = int(self._lock.getLockInfo()[0]) or None
        detail = self._send_activate()
        if not detail:
            return Claim(Outcome.ACTIVATED, pid=pid)
        return Claim(Outcome.UNREACHABLE, detail, pid)

    def _listen(self) -> None:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        # We hold the lock, so a socket file left by a crashed instance is stale: remove it.
        QLocalServer.removeServer(self._name)
        if not server.listen(self._name):
            log.warning("cannot listen on %s: %s", self._name, server.errorString())
            return
        server.newConnection.connect(self._on_server_new_connection)
        self._server = server

    def _send_activate(self) -> str:
        """'' when the other instance acknowledged; otherwise why it could not be reached."""
        socket = QLocalSocket()
        socket.connectToServer(self._name)
        if not socket.waitForConnected(TIMEOUT_MS):
            return socket.errorString()
        try:
            socket.write(ACTIVATE)
            if not socket.waitForBytesWritten(TIMEOUT_MS):
                return socket.errorString()
            reply = b""
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            # Short waits: PySide may hold the GIL inside a wait, and an instance in this same
            # process (tests) must get its turn to answer.
            while not reply.endswith(b"\n") and time.monotonic() < deadline:
                if socket.waitForReadyRead(50):
                    reply += bytes(socket.readAll().data())
                elif socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
                    break
            return "" if reply == ACK else "no answer"
        finally:
            socket.disconnectFromServer()

    @Slot()
    def _on_server_new_connection(self) -> None:
        server = self._server
        while server is not None and server.hasPendingConnections():
            socket = server.nextPendingConnection()
            self._sockets.add(socket)
            socket.readyRead.connect(self._on_socket_ready_read)
            socket.disconnected.connect(self._on_socket_disconnected)

    @Slot()
    def _on_socket_ready_read(self) -> None:
        socket = self.sender()
        if not isinstance(socket, QLocalSocket):
            return
        data = bytes(socket.readAll().data())
        if data.strip() == ACTIVATE.strip():
            socket.write(ACK)
            socket.flush()
            self.activation_requested.emit()

    @Slot()
    def _on_socket_disconnected(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket) and socket in self._sockets:
            self._sockets.discard(socket)
            socket.deleteLater()

    def release(self) -> None:
        for socket in list(self._sockets):
            socket.abort()
        self._sockets.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()


def raise_window(window: object) -> None:
    """Bring ``window`` (a QWidget) forward: unminimise, show, raise and ask for focus."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QWidget

    assert isinstance(window, QWidget)
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
