"""The status bar's download summary: "2 downloads, 45%, 3.1 MiB/s", hidden when idle."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QWidget

from desktop_app.formatting import human_bytes
from desktop_app.ui.downloads_bridge import DownloadsBridge, OverallProgress


def overall_text(overall: OverallProgress) -> str:
    n = overall.count
    return (
        f"{n} download{'s' if n != 1 else ''}, {100 * overall.fraction:.0f}%, "
        f"{human_bytes(overall.speed)}/s"
    )


class DownloadStatusLabel(QLabel):
    def __init__(self, bridge: DownloadsBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Downloads queued or running (see the Downloads page)")
        bridge.overall_changed.connect(self._on_overall_changed)
        self._on_overall_changed(bridge.overall())

    @Slot(object)
    def _on_overall_changed(self, overall: OverallProgress) -> None:
        self.setText(overall_text(overall) if overall.count else "")
        self.setVisible(overall.count > 0)
