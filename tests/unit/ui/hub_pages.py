"""Shared set-up for the Discover and Downloads page tests: a loopback hub with a realistic repo.

``bartowski/Tiny-GGUF`` has one real tiny model (``Tiny-Q2_K.gguf``, served, with a real GGUF
header) and bigger quants listed with the sizes of a 3B model (listed only: never served), so
one context and one memory figure give all three verdicts. Its card carries HTML, and the
listing carries hostile file names. Services get a download manager with short timeouts.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from desktop_app.core.hub.downloads import DownloadManager
from desktop_app.core.hub.transfer import TransferSettings
from desktop_app.ui.services import Services
from hub_server import HubServer

GIB = 1024**3
REPO = "bartowski/Tiny-GGUF"
REAL_FILE = "Tiny-Q2_K.gguf"
TIMEOUT = 20_000
FAST = TransferSettings(
    stall_timeout=1.0,
    connect_timeout=5.0,
    max_retries=2,
    backoff_base=0.02,
    backoff_max=0.1,
    disk_margin=0,
    record_interval=0.02,
)
README = """---
license: apache-2.0
---
# Tiny GGUF

<script>fetch('https://evil.example')</script>
A <b>tiny</b> model, quantized with **llama.cpp** for the tests: see
[the original](https://huggingface.co/org/Tiny). <a href="file:///etc/passwd">click</a>
"""
# Listed sizes of the bigger quants: with 4 GiB available, Q4_K_M fits, Q6_K is tight and
# Q8_0 does not fit.
LISTED = {
    "Tiny-Q4_K_M.gguf": 2 * GIB,
    "Tiny-Q6_K.gguf": 3 * GIB + GIB // 2,
    "Tiny-Q8_0.gguf": 5 * GIB,
}
HOSTILE = ("..\\..\\evil.gguf", "C:\\evil.gguf", "evil\u202egguf.Q4_K_M.gguf", "NUL.gguf")


def populate(server: HubServer, payload: bytes) -> None:
    repo = server.add_repo(
        REPO,
        downloads=52_000,
        likes=120,
        card_data={"license": "apache-2.0"},
        gguf={"total": 3_090_000_000, "architecture": "llama", "context_length": 4096},
        last_modified="2025-03-01T10:00:00.000Z",
    )
    repo.add(REAL_FILE, payload)
    for name, size in LISTED.items():
        repo.add(name, b"listed only", listed_size=size, served=False)
    repo.add("mmproj-Tiny-f16.gguf", b"projector", listed_size=600 * 1024**2, served=False)
    repo.add("README.md", README.encode(), lfs=False)
    for name in HOSTILE:
        repo.add(name, b"x", served=False)
    small = server.add_repo(
        "org/Small-GGUF", downloads=300, likes=900, last_modified="2025-06-01T00:00:00.000Z"
    )
    small.add("small-Q8_0.gguf", payload)
    server.add_repo("org/Plain-Model", tags=["safetensors"])  # not GGUF: never listed


def use_fast_downloads(services: Services) -> DownloadManager:
    """Give ``services`` a download manager with short timeouts (the caller closes it)."""
    services.downloads = DownloadManager(services.paths.models, settings=FAST)
    return services.downloads


def click_cell(qtbot: QtBot, view: QTableView, row: int, column: int) -> None:
    """A real mouse click in the middle of a cell (a delegate's button there gets it)."""
    index = view.model().index(row, column)
    view.scrollTo(index)
    center: QPoint = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)


def write_payload(folder: Path) -> bytes:
    from desktop_app.core.synthetic_model import write_model

    return write_model(folder / "tiny.gguf", "tiny").read_bytes()
