"""The suite's own guarantees: no network beyond loopback, app folders in temp dirs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


def test_non_loopback_connections_fail_the_test() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s,
        pytest.raises(AssertionError, match="connect"),
    ):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(AssertionError):
        s.connect_ex(("example.invalid", 80))


def test_loopback_connections_work() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"


def test_app_and_hub_folders_are_temporary(app_home: Path, tmp_path: Path) -> None:
    assert Path(os.environ["QUANTDESK_HOME"]) == app_home
    assert tmp_path in app_home.parents
    home = str(Path.home())
    for var in ("HF_HOME", "HF_HUB_CACHE", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        assert not os.environ[var].startswith(home + os.sep + "."), var
