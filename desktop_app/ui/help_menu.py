"""The Help menu: Copy diagnostics (for a bug report) and Open log folder.

The report is gathered on the io pool (it reads the log and asks the OS about the machine) and
lands on the clipboard; no network is involved.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMainWindow, QMenu

from desktop_app.core.diagnostics import Diagnostics, gather
from desktop_app.messages import describe_error
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op

STATUS_MS = 6000


def add_help_menu(window: QMainWindow, services: Services) -> QMenu:
    menu = window.menuBar().addMenu("&Help")

    def on_copied(report: Diagnostics) -> None:
        QGuiApplication.clipboard().setText(report.to_text())
        window.statusBar().showMessage(
            f"Diagnostics copied to the clipboard, with the last {len(report.log_lines)} "
            "log lines. Nothing was sent anywhere.",
            STATUS_MS,
        )

    def on_failed(exc: BaseException) -> None:
        window.statusBar().showMessage(
            f"Could not gather diagnostics: {describe_error(exc)}", STATUS_MS
        )

    def copy_diagnostics() -> None:
        runtime = {"Qt": qVersion(), "Qt platform": QGuiApplication.platformName()}
        (
            Op(gather, services.paths, services.settings.settings, runtime=runtime)
            .success(on_copied)
            .failure(on_failed)
            .owned_by(window)
            .run_in(services.pools.io)
        )

    def open_logs() -> None:
        folder = services.paths.logs
        folder.mkdir(parents=True, exist_ok=True)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            window.statusBar().showMessage(f"Could not open {folder}.", STATUS_MS)

    copy_action = QAction("Copy diagnostics", window)
    copy_action.setToolTip("Versions, this machine, settings and the recent log, for a bug report")
    copy_action.triggered.connect(copy_diagnostics)
    logs_action = QAction("Open log folder", window)
    logs_action.triggered.connect(open_logs)
    menu.addAction(copy_action)
    menu.addAction(logs_action)
    return menu
