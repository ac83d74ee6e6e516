"""A model worker process opens no network connection, seen from inside and from outside.

Inside: the worker runs with the network guard (desktop_app/core/engine/network_guard.py), an
audit hook that refuses and reports any Internet socket or name lookup made from Python.
Outside: while the worker loads a model, chats, tokenizes and unloads, a thread lists the
worker's open file descriptors in /proc every few milliseconds and looks each socket up in the
kernel's socket tables (/proc/<pid>/net/...), which also sees sockets native code opens. The
only socket a worker may hold is the AF_UNIX pipe to the app. Both observers are checked
against processes that do use the network, so a blind observer cannot pass.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from desktop_app.core.engine.client import SyncWorker
from desktop_app.core.engine.network_guard import NETWORK_GUARD_ENV
from desktop_app.core.engine.protocol import (
    SAMPLING_PRESETS,
    ChatMessage,
    Done,
    Loaded,
    LoadSettings,
    Tokens,
    Unloaded,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc/self/net/unix").exists(), reason="needs Linux /proc"),
]

# Socket tables of the process's network namespace and the column holding the socket inode.
_TABLES = {
    "unix": 6,
    "tcp": 9,
    "tcp6": 9,
    "udp": 9,
    "udp6": 9,
    "raw": 9,
    "raw6": 9,
}


def socket_kind(pid: int, inode: str) -> str:
    """Which kernel table holds socket ``inode`` ("unix", "tcp", ...; "unknown" if none)."""
    for table, column in _TABLES.items():
        try:
            text = Path(f"/proc/{pid}/net/{table}").read_text()
        except OSError:
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > column and fields[column] == inode:
                return table
    return "unknown"


class SocketWatcher:
    """Polls /proc/<pid>/fd from a thread; records every socket the process holds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.kinds: dict[str, str] = {}  # socket inode -> table
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SocketWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        fd_dir = Path(f"/proc/{self.pid}/fd")
        while not self._stop.is_set():
            try:
                names = os.listdir(fd_dir)
            except OSError:
                return  # the process has exited
            for name in names:
                try:
                    target = os.readlink(fd_dir / name)
                except OSError:
                    continue  # closed between listdir and readlink
                if target.startswith("socket:[") and target not in self.kinds:
                    self.kinds[target] = socket_kind(self.pid, target[8:-1])
            self.polls += 1
            time.sleep(0.002)

    def tables(self) -> set[str]:
        return set(self.kinds.values())


def test_worker_opens_no_network_socket_while_loading_and_chatting(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "network-guard.txt"
    monkeypatch.setenv(NETWORK_GUARD_ENV, str(report))  # inherited by the spawned worker
    with SyncWorker(name="offline-worker") as sw:
        pid = sw.worker.pid
        assert pid is not None
        with SocketWatcher(pid) as watcher:
            loaded = sw.result(sw.worker.load(LoadSettings(str(tiny_gguf), n_ctx=256)))
            assert isinstance(loaded, Loaded), loaded
            sampling = dataclasses.replace(SAMPLING_PRESETS["Precise"], max_tokens=24)
            chat = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hello, who are you?"))
            done = sw.result(sw.worker.generate(messages=chat, sampling=sampling))
            assert isinstance(done, Done), done
            assert done.stats.generated_tokens > 0
            tokens = sw.result(sw.worker.tokenize("Hello there", add_bos=True))
            assert isinstance(tokens, Tokens) and tokens.tokens
            assert isinstance(sw.result(sw.worker.unload()), Unloaded)
        assert sw.worker.alive

    # The guard ran in the worker itself and refused nothing.
    lines = report.read_text().splitlines()
    assert lines == [f"guarded pid={pid}"], lines
    # From outside: the worker held its pipe to the app (a socket pair) and no other socket.
    assert watcher.polls >= 10, watcher.polls
    assert watcher.tables() == {"unix"}, watcher.kinds


def test_guard_refuses_and_reports_every_kind_of_network_access(tmp_path: Path) -> None:
    report = tmp_path / "network-guard.txt"
    listener = socket.create_server(("127.0.0.1", 0))  # a loopback port the child aims at
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    child = textwrap.dedent(
        f"""
        import socket, sys
        from desktop_app.core.engine.network_guard import install
        install(sys.argv[1])
        attempts = {{
            "connect": lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2),
            "lookup": lambda: socket.getaddrinfo("localhost", 80),
            "udp": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
            "ipv6": lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM),
        }}
        for name, attempt in attempts.items():
            try:
                attempt()
                print(name, "allowed")
            except PermissionError:
                print(name, "refused")
        a, b = socket.socketpair()  # AF_UNIX: how a worker talks to the app
        a.sendall(b"x")
        print("socketpair", "allowed" if b.recv(1) == b"x" else "broken")
        """
    )
    with listener:
        result = subprocess.run(
            [sys.executable, "-c", child, str(report)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing got through
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == [
        "connect refused",
        "lookup refused",
        "udp refused",
        "ipv6 refused",
        "socketpair allowed",
    ]
    lines = report.read_text().splitlines()
    assert lines[0].startswith("guarded pid=")
    blocked = [line.split()[2] for line in lines[1:]]
    # create_connection resolves the address first: the lookup is what it trips on.
    assert blocked == [
        "socket.getaddrinfo",
        "socket.getaddrinfo",
        "socket.__new__",
        "socket.__new__",
    ]
    assert "network access refused in a worker process" in result.stderr


def test_socket_watcher_sees_internet_sockets_of_a_process() -> None:
    child = textwrap.dedent(
        """
        import socket, sys, time
        tcp = socket.create_server(("127.0.0.1", 0))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        print("ready", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with SocketWatcher(proc.pid) as watcher:
            deadline = time.monotonic() + 10
            while watcher.polls < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        proc.communicate("\n", timeout=10)
    assert {"tcp", "udp"} <= watcher.tables(), watcher.kinds
    assert "unknown" not in watcher.tables(), watcher.kinds
