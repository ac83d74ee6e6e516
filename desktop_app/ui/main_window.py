"""Main window: a sidebar of pages, the pages, and a status bar with memory in use.

Only pages that work are enabled; the ones later versions add are listed but greyed out with a
tooltip, so nothing pretends to work.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from desktop_app import __version__
from desktop_app.core.hardware import memory_snapshot
from desktop_app.formatting import human_bytes
from desktop_app.ui.help_menu import add_help_menu
from desktop_app.ui.pages.chat_page import ChatPage
from desktop_app.ui.pages.compare_page import ComparePage
from desktop_app.ui.pages.convert_page import ConvertPage
from desktop_app.ui.pages.discover_page import DiscoverPage
from desktop_app.ui.pages.downloads_page import DownloadsPage
from desktop_app.ui.pages.library_page import LibraryPage
from desktop_app.ui.pages.machine_page import MachinePage
from desktop_app.ui.pages.model_page import ModelPage
from desktop_app.ui.pages.settings_page import SettingsPage
from desktop_app.ui.services import Services
from desktop_app.ui.widgets.download_status import DownloadStatusLabel

# Sidebar entries of pages later versions add, in product order (shown disabled).
# One entry per line: remove a page's line when the page is added in __init__.
PLANNED_PAGES: tuple[str, ...] = ()
STATUS_INTERVAL_MS = 2000


class MainWindow(QMainWindow):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.setWindowTitle(f"QuantDesk {__version__}")
        self.resize(1180, 760)

        self.machine_page = MachinePage(services)
        self.model_page = ModelPage(services)
        self.chat_page = ChatPage(services)
        self.library_page = LibraryPage(services)
        self.compare_page = ComparePage(services)
        self.compare_page.continue_in_chat.connect(self._on_continue_in_chat)
        self.library_page.set_compare_available(True, "")
        self.library_page.open_in_compare.connect(self._on_open_in_compare)
        self.library_page.open_in_chat.connect(self._on_open_in_chat)
        self.discover_page = DiscoverPage(services)
        self.downloads_page = DownloadsPage(services)
        self.downloads_page.open_in_chat.connect(self._on_open_in_chat)
        self.downloads_page.download_finished.connect(lambda _p: self.library_page.rescan())
        self.convert_page = ConvertPage(services)
        self.convert_page.open_in_chat.connect(self._on_open_in_chat)
        self.convert_page.open_in_compare.connect(self._on_open_in_compare)
        self.settings_page = SettingsPage(services)
        self.pages = QStackedWidget()
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(18, 18))
        self.sidebar.setFixedWidth(190)
        # Pages in sidebar order, one per line (Discover, Compare, Convert, Downloads and
        # Settings join here as they are built).
        self._add_page("This machine", self.machine_page)
        self._add_page("Model file", self.model_page)
        self._add_page("Library", self.library_page)
        self._add_page("Discover", self.discover_page)
        self._add_page("Chat", self.chat_page)
        self._add_page("Compare", self.compare_page)
        self._add_page("Convert", self.convert_page)
        self._add_page("Downloads", self.downloads_page)
        self._add_page("Settings", self.settings_page)  # last
        for name in PLANNED_PAGES:
            item = QListWidgetItem(name)
            item.setFlags(Qt.ItemFlag.NoItemFlags)  # visible, not selectable
            item.setToolTip(f"{name} is not available in this version yet.")
            self.sidebar.addItem(item)
        self.sidebar.currentRowChanged.connect(self._on_sidebar_row_changed)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 8, 0)
        row.addWidget(self.sidebar)
        row.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.memory_label = QLabel()
        self.download_status = DownloadStatusLabel(self.downloads_page.bridge)
        self.statusBar().addPermanentWidget(self.download_status)
        self.statusBar().addPermanentWidget(self.memory_label)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._update_memory_status)
        self._status_timer.start()
        self._update_memory_status()

        open_action = QAction("Open model file…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._on_open_triggered)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(open_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        self.help_menu = add_help_menu(self, services)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        # Workers end and the reply in progress is saved before the window goes.
        # One line per page that owns background work.
        self.library_page.shutdown()
        self.chat_page.shutdown()
        self.compare_page.shutdown()
        self.downloads_page.shutdown()
        self.convert_page.shutdown()
        super().closeEvent(event)

    def _add_page(self, name: str, page: QWidget) -> None:
        self.pages.addWidget(page)
        self.sidebar.addItem(QListWidgetItem(name))

    def start(self) -> None:
        """Kick off the first background reads once the window exists."""
        self.machine_page.refresh()

    def show_page(self, page: QWidget) -> None:
        self.sidebar.setCurrentRow(self.pages.indexOf(page))

    @Slot(int)
    def _on_sidebar_row_changed(self, row: int) -> None:
        if 0 <= row < self.pages.count():
            self.pages.setCurrentIndex(row)

    @Slot(str)
    def _on_open_in_chat(self, path: str) -> None:
        self.chat_page.model_bar.select_path(path)
        self.show_page(self.chat_page)

    @Slot(list)
    def _on_open_in_compare(self, paths: list[str]) -> None:
        self.compare_page.set_variants(paths)
        self.show_page(self.compare_page)

    @Slot(str, object)
    def _on_continue_in_chat(self, path: str, conversation: object) -> None:
        self.chat_page.session.import_data(conversation)  # type: ignore[arg-type]
        self._on_open_in_chat(path)

    @Slot()
    def _on_open_triggered(self) -> None:
        self.show_page(self.model_page)
        self.model_page.open_button.click()

    @Slot()
    def _update_memory_status(self) -> None:
        # One /proc/meminfo read: cheap enough for the GUI thread every two seconds.
        mem = memory_snapshot()
        self.memory_label.setText(
            f"RAM {human_bytes(mem.used)} in use, {human_bytes(mem.available)} available"
        )
