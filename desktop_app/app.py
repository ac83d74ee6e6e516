"""Composition root: builds the QApplication, the services and the main window, once."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from desktop_app import __version__
from desktop_app.core.paths import AppPaths
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Pools

log = logging.getLogger(__name__)

STYLE = """
QLabel#pageTitle { font-size: 20px; font-weight: 600; padding: 4px 0 8px 0; }
QListWidget#sidebar { font-size: 14px; padding-top: 8px; }
QListWidget#sidebar::item { padding: 7px 10px; }
QListWidget#sidebar::item:disabled { color: palette(mid); }
QGroupBox { font-weight: 600; }
"""


def build_services() -> Services:
    paths = AppPaths.default().ensure()
    return Services(paths=paths, pools=Pools())


def create_window(services: Services) -> MainWindow:
    window = MainWindow(services)
    window.start()
    return window


def run_gui(argv: Sequence[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(list(argv or sys.argv))
    assert isinstance(app, QApplication)
    app.setApplicationName("QuantDesk")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("QuantDesk")
    app.setStyleSheet(STYLE)
    services = build_services()
    window = create_window(services)
    window.show()
    try:
        return app.exec()
    finally:
        if not services.pools.shutdown():
            log.warning("background work still running at exit")
