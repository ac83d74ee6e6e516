"""Composition root: builds the QApplication, the services and the main window, once."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtWidgets import QApplication

from desktop_app import __version__, resources
from desktop_app.core.app_log import install_file_log
from desktop_app.core.hub.downloads import DownloadManager
from desktop_app.core.paths import AppPaths
from desktop_app.ui.app_icon import app_icon
from desktop_app.ui.error_dialog import ErrorReporter
from desktop_app.ui.first_run import show_first_run_if_needed
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.offline import OfflineSwitch
from desktop_app.ui.services import Services
from desktop_app.ui.settings_store import SettingsStore, bind_offline, bind_theme
from desktop_app.ui.single_instance import Outcome, SingleInstance, raise_window
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
    pools = Pools()
    settings = SettingsStore.load(paths, pools.db)
    # Every page writes new models to services.paths.models: make it the first models folder.
    first = settings.models_folders()[0]
    try:
        first.mkdir(parents=True, exist_ok=True)
        paths = replace(paths, models=first)
    except OSError as exc:  # an unplugged drive, a folder that became read-only
        log.warning("models folder %s unusable (%s); using %s", first, exc, paths.models)
    offline = OfflineSwitch()
    bind_offline(settings, offline)
    services = Services(
        paths=paths,
        pools=pools,
        downloads=DownloadManager(paths.models),
        offline=offline,
        settings=settings,
    )
    services.models_folder.bind(services)
    return services


GC_THRESHOLDS = (20_000, 20, 10)  # Python's defaults: (700, 10, 10)


def settle_heap() -> None:
    """Move every object alive after start-up out of the garbage collector's sight.

    A full collection scans every tracked object while holding the GIL, so with Qt, PySide6
    and the app's modules loaded it stalled the GUI thread for 45-85 ms whenever a library scan
    or a comparison allocated enough to trigger one (benchmarks/RESULTS.md, library scan).
    Objects created at start-up live as long as the app; freezing them leaves collections only
    the objects made since, which is what can become garbage. A larger first threshold means
    fewer young collections, so fewer survivors get promoted and full collections come rarer:
    with both, the worst stall during a 1,000-model scan fell from 66-70 to 27-37 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


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
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(resources.APP_ID)  # Wayland matches the window to its .desktop file
    paths = AppPaths.default().ensure()
    instance = SingleInstance(paths.config)
    claim = instance.claim()
    if claim.outcome is Outcome.ACTIVATED:
        print("QuantDesk is already running; its window was brought forward.")
        return 0
    if claim.outcome is Outcome.UNREACHABLE:
        who = f" (process {claim.pid})" if claim.pid else ""
        print(
            f"QuantDesk is already running{who} but did not answer: {claim.detail}. "
            "If it is frozen, end that process and start QuantDesk again.",
            file=sys.stderr,
        )
        return 1
    try:
        log_handler = install_file_log(paths.logs)
    except OSError as exc:
        log_handler = None
        print(f"QuantDesk: no log file ({exc})", file=sys.stderr)
    log.info("QuantDesk %s starting (Python %s)", __version__, sys.version.split()[0])
    services = build_services()
    bind_theme(services.settings, app)
    window = create_window(services)
    settle_heap()
    reporter = ErrorReporter(lambda: window)
    reporter.install()
    instance.activation_requested.connect(lambda: raise_window(window))
    window.show()
    show_first_run_if_needed(services, window)
    try:
        return app.exec()
    finally:
        reporter.uninstall()
        instance.release()
        if log_handler is not None:
            log_handler.close()
        services.downloads.close()  # running downloads pause; their partials resume next time
        services.quantize_launcher.close()
        if not services.pools.shutdown():
            log.warning("background work still running at exit")
