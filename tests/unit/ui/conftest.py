"""GUI fixtures: real services on temp folders, and a check that no background work leaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hub_pages import populate, write_payload

from desktop_app.core.paths import AppPaths
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Pools
from hub_server import HubServer


@pytest.fixture
def services(qapp: object) -> Iterator[Services]:
    pools = Pools()
    svc = Services(paths=AppPaths.default().ensure(), pools=pools)
    yield svc
    # Close windows first: closing ends model workers and queues the last history writes.
    from PySide6.QtWidgets import QApplication

    for widget in QApplication.topLevelWidgets():
        widget.close()
    svc.quantize_launcher.close()
    # Then every background task must finish promptly (napari-style dangling-work check).
    assert pools.shutdown(10_000), "background work still running after the test"


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_payload(tmp_path_factory.mktemp("hub-payload"))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> Iterator[HubServer]:
    """The loopback hub with the demo repos, and huggingface_hub pointed at it."""
    server = HubServer().start()
    populate(server, payload)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()
