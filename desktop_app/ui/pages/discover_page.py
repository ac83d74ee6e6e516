"""Discover: find GGUF models on the Hugging Face hub and see which quant fits before downloading.

Left, the result list (hub search, results saved earlier, or the curated catalog); right, the
selected repo: each quant with size, bits per weight, a plain-words note and a fit badge at the
chosen context, the recommended one marked, and a Download button per quant.

Every hub call runs on the io pool (``discover_work``) with the offline switch's config of that
moment; answers to an older request are dropped. A repo is priced first from file sizes alone
(said so on the page), then again once the model's header facts arrive (KV cache included).
Offline (the switch here, in Downloads, or ``HF_HUB_OFFLINE``), nothing connects: the list
shows the catalog and saved results under an "Offline" banner and Download is disabled.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QItemSelection, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hardware import memory_snapshot
from desktop_app.core.hub.client import Sort
from desktop_app.core.hub.downloads import DownloadRequest, DownloadState
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.listing import RepoListing
from desktop_app.core.hub.remote_header import RemoteFacts
from desktop_app.core.hub.session import HubConfig
from desktop_app.messages import describe_error
from desktop_app.ui import discover_work
from desktop_app.ui.discover_work import Found, MemoryProbe, Opened, Priced
from desktop_app.ui.downloads_bridge import queue_download
from desktop_app.ui.models.discover_model import Column, DiscoverModel, DiscoverProxy, Origin
from desktop_app.ui.models.discover_model import DiscoverRole as Role
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets.banner import Banner
from desktop_app.ui.widgets.repo_view import RepoView

SORTS: tuple[tuple[str, Sort, Column], ...] = (
    ("Most downloads", "downloads", Column.DOWNLOADS),
    ("Most likes", "likes", Column.LIKES),
    ("Recently updated", "last_modified", Column.UPDATED),
)
OFFLINE_DOWNLOAD = "Offline mode is on: turn it off to download."


def _available_memory() -> int:
    return memory_snapshot().available


class DiscoverPage(QWidget):
    def __init__(
        self,
        services: Services,
        parent: QWidget | None = None,
        *,
        memory: MemoryProbe = _available_memory,
    ) -> None:
        """``memory`` gives the bytes available now (tests and screenshots fix it)."""
        super().__init__(parent)
        self._services = services
        self._memory = memory
        self._search_request = 0
        self._repo_request = 0
        self._price_request = 0
        self._searched: tuple[str, str, Sort] | None = None  # the last search asked for
        self._found: Found | None = None
        self._listing: RepoListing | None = None
        self._facts: RemoteFacts | None = None
        self._cpu_features: tuple[str, ...] = ("AVX2",)
        self._facts_pending = False

        title = QLabel("Discover")
        title.setObjectName("pageTitle")
        self.offline_box = QCheckBox("Offline mode")
        self.offline_box.setToolTip("When on, QuantDesk opens no network connection at all")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.offline_box)
        self.banner = Banner()

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search GGUF models, e.g. qwen 7b instruct")
        self.search.setClearButtonEnabled(True)
        self.author = QLineEdit()
        self.author.setPlaceholderText("Author (optional)")
        self.author.setClearButtonEnabled(True)
        self.author.setMaximumWidth(180)
        self.sort = QComboBox()
        for text, sort, _column in SORTS:
            self.sort.addItem(text, sort)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.search, 3)
        toolbar.addWidget(self.author, 1)
        toolbar.addWidget(self.sort)
        toolbar.addWidget(self.search_button)

        self.model = DiscoverModel(self)
        self.proxy = DiscoverProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        heads = self.table.horizontalHeader()
        heads.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        heads.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        heads.setSectionResizeMode(Column.AUTHOR, QHeaderView.ResizeMode.Interactive)
        heads.resizeSection(Column.AUTHOR, 100)  # the name matters more; the tooltip has both
        self.repo_view = RepoView()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.repo_view)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([600, 680])  # kept in proportion when the window is resized
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

        self.search_button.clicked.connect(self.run_search)
        self.search.returnPressed.connect(self.run_search)
        self.author.returnPressed.connect(self.run_search)
        self.sort.currentIndexChanged.connect(self._on_sort_changed)
        self.offline_box.toggled.connect(self._on_offline_box_toggled)
        services.offline.changed.connect(self._on_offline_changed)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.repo_view.context_changed.connect(self._on_context_changed)
        self.repo_view.download_clicked.connect(self._on_download_clicked)
        self._sync_offline_box()
        self._sort_view()
        self.show_start()

    # --- the result list ---------------------------------------------------------------------

    def _run(self, op: Op) -> None:
        """Every hub call and estimate runs on the io pool, for this page only."""
        op.owned_by(self).run_in(self._services.pools.io)

    def _config(self) -> HubConfig:
        """The hub configuration of this moment (the offline switch, HF_ENDPOINT, token)."""
        return self._services.offline.hub_config()

    def _sort_key(self) -> Sort:
        return SORTS[self.sort.currentIndex()][1]

    @Slot()
    def show_start(self) -> None:
        """The catalog and results saved earlier, without connecting."""
        self._searched = None
        self._search_request += 1
        self.status.setText("Loading the catalog…")
        op = Op(discover_work.starting_rows, self._search_request, self._config(), self._sort_key())
        self._run(op.success(self._on_found).failure(self._on_find_failed))

    @Slot()
    def run_search(self) -> None:
        text, author = self.search.text().strip(), self.author.text().strip()
        self._searched = (text, author, self._sort_key())
        self._search_request += 1
        offline = self._services.offline.is_offline()
        self.status.setText("Looking in saved results…" if offline else "Searching the hub…")
        self.search_button.setEnabled(False)
        op = Op(discover_work.find_models, self._search_request, self._config(), *self._searched)
        self._run(op.success(self._on_found).failure(self._on_find_failed))

    def _on_found(self, found: Found) -> None:
        if found.request != self._search_request:
            return  # an older search answered late
        self.search_button.setEnabled(True)
        self._found = found
        self.model.set_rows(found.rows)
        # The catalog knows no downloads, likes or dates: no columns of dashes for it.
        catalog_only = all(r.origin is Origin.CATALOG for r in found.rows)
        for column in (Column.DOWNLOADS, Column.LIKES, Column.UPDATED):
            self.table.setColumnHidden(column, catalog_only)
        self.proxy.set_author(self.author.text() if found.origin is not Origin.HUB else "")
        self._update_banner()
        n = self.proxy.rowCount()
        self.status.setText(f"{n:,} repo{'s' if n != 1 else ''}")
        if n == 0:
            self.status.setText("No GGUF models match.")

    def _on_find_failed(self, exc: BaseException) -> None:
        self.search_button.setEnabled(True)
        self.status.setText(f"The search failed: {describe_error(exc)}")

    def _update_banner(self) -> None:
        found = self._found
        offline = self._services.offline.is_offline()
        saved = ""
        if found is not None and found.fetched_at is not None:
            saved = time.strftime(" (saved %Y-%m-%d %H:%M)", time.localtime(found.fetched_at))
        what = (
            "the curated catalog"
            if found is None or found.origin is Origin.CATALOG
            else f"results saved earlier{saved}"
        )
        if found is not None and self._searched is None and found.origin is Origin.CACHE:
            what = f"results saved earlier{saved} and the curated catalog"
        if offline:
            self.banner.show_text(f"Offline: no connection is made. Showing {what}.", "offline")
        elif found is not None and found.error is not None:
            reason = describe_error(found.error)
            self.banner.show_text(f"The hub did not answer: {reason}. Showing {what}.", "error")
        elif self._searched is None:
            self.banner.show_text(f"Showing {what}. Search to ask the Hugging Face hub.")
        elif found is not None and found.origin is Origin.CACHE:
            self.banner.show_text(f"Showing {what}: the hub could not be reached.", "error")
        else:
            self.banner.show_text("")

    @Slot(int)
    def _on_sort_changed(self, _index: int) -> None:
        self._sort_view()
        if self._searched is not None and not self._services.offline.is_offline():
            self.run_search()  # the hub sorts before it cuts the list at its limit

    def _sort_view(self) -> None:
        column = SORTS[self.sort.currentIndex()][2]
        self.table.sortByColumn(column, Qt.SortOrder.DescendingOrder)

    # --- offline switch ----------------------------------------------------------------------

    @Slot(bool)
    def _on_offline_box_toggled(self, checked: bool) -> None:
        self._services.offline.set_offline(checked)

    @Slot(bool)
    def _on_offline_changed(self, _offline: bool) -> None:
        self._sync_offline_box()
        if self._searched is None:
            self.show_start()
        else:
            self.run_search()
        repo_id = self.selected_repo()
        if repo_id is not None:
            self._open(repo_id)  # the saved listing offline, a fresh one online

    def _sync_offline_box(self) -> None:
        switch = self._services.offline
        self.offline_box.blockSignals(True)
        self.offline_box.setChecked(switch.is_offline())
        self.offline_box.blockSignals(False)
        forced = switch.forced_by_environment
        self.offline_box.setEnabled(not forced)
        if forced:
            self.offline_box.setToolTip("HF_HUB_OFFLINE is set in the environment")
        self.repo_view.model.set_download_block(OFFLINE_DOWNLOAD if switch.is_offline() else None)
        self._update_banner()

    # --- the selected repo -------------------------------------------------------------------

    def selected_repo(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(Role.REPO_ID) if rows else None

    def select_repo(self, repo_id: str) -> None:
        for r in range(self.proxy.rowCount()):
            if self.proxy.index(r, 0).data(Role.REPO_ID) == repo_id:
                self.table.selectRow(r)
                return
        raise KeyError(repo_id)

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        repo_id = self.selected_repo()
        if repo_id is not None:
            self._open(repo_id)

    def _open(self, repo_id: str) -> None:
        self._repo_request += 1
        request = self._repo_request
        self._listing, self._facts, self._facts_pending = None, None, False
        self.repo_view.show_loading(repo_id)
        models = str(self._services.paths.models)
        op = Op(discover_work.open_repo, request, self._config(), repo_id, models)
        self._run(
            op.success(self._on_opened).failure(
                lambda exc: self._on_open_failed(request, repo_id, exc)
            )
        )

    def _on_opened(self, opened: Opened) -> None:
        if opened.request != self._repo_request:
            return
        listing = self._listing = opened.listing
        self._cpu_features = opened.cpu_features
        self.repo_view.show_listing(listing)
        self._refresh_queued()
        self._facts_pending = bool(listing.variants)
        self._reprice()
        if not listing.variants:
            return
        request = self._repo_request
        op = Op(discover_work.read_facts, self._config(), listing)
        self._run(
            op.success(lambda facts: self._on_facts(request, facts)).failure(
                lambda exc: self._on_facts_failed(request, exc)
            )
        )

    def _on_open_failed(self, request: int, repo_id: str, exc: BaseException) -> None:
        if request != self._repo_request:
            return
        if isinstance(exc, HubError) and exc.code == "offline":
            text = (
                "Offline, and this repo's file list was not saved earlier. "
                "Turn offline mode off to see its files."
            )
        else:
            text = f"Could not read this repo: {describe_error(exc)}."
        self.repo_view.show_error(repo_id, text)

    def _on_facts(self, request: int, facts: RemoteFacts | None) -> None:
        if request != self._repo_request:
            return
        self._facts, self._facts_pending = facts, False
        self._reprice()

    def _on_facts_failed(self, request: int, exc: BaseException) -> None:
        if request != self._repo_request:
            return
        self._facts_pending = False
        self.repo_view.set_estimate_note(
            f"Size-only estimate: the model's header could not be read ({describe_error(exc)}).",
            error=True,
        )

    @Slot(int)
    def _on_context_changed(self, _n_ctx: int) -> None:
        self._reprice()

    def _reprice(self) -> None:
        listing = self._listing
        if listing is None:
            return
        self._price_request += 1
        n_ctx = self.repo_view.context.value()
        args = (listing, self._facts, n_ctx, self._cpu_features, self._memory)
        self._run(Op(discover_work.price, self._price_request, *args).success(self._on_priced))

    def _on_priced(self, priced: Priced) -> None:
        if priced.request != self._price_request:
            return
        self.repo_view.model.set_rows(priced.rows)
        if not priced.rows:
            self.repo_view.set_estimate_note("")
            return
        n_ctx = self.repo_view.context.value()
        facts = self._facts
        if facts is not None:
            self.repo_view.set_estimate_note(
                f"Memory includes the KV cache at {n_ctx:,} tokens "
                f"(architecture read from {facts.filename}). Hover a badge for the breakdown."
            )
        elif self._facts_pending:
            self.repo_view.set_estimate_note(
                "Size-only estimate for now: reading the model's header for the KV cache…"
            )
        elif not self.repo_view.estimate_note.text().startswith("Size-only estimate: the"):
            self.repo_view.set_estimate_note("Size-only estimate: the KV cache is not included.")
        if priced.recommended_key is None:
            self.repo_view.message.setText(
                "No quant fits comfortably in the memory available now at this context."
            )
        else:
            self.repo_view.message.setText(
                "★ recommended: the highest quality that fits comfortably, with room to spare."
            )

    # --- downloads ---------------------------------------------------------------------------

    @Slot(str)
    def _on_download_clicked(self, key: str) -> None:
        listing = self._listing
        variant = listing.variant(key) if listing is not None else None
        if listing is None or variant is None:
            return
        try:
            for f in variant.files:
                if f.size is None:
                    continue  # the button is disabled for these
                queue_download(
                    self._services.downloads,
                    self._services.offline,
                    DownloadRequest(
                        listing.repo_id, f.path, f.size, f.sha256, listing.revision or "main"
                    ),
                )
        except HubError as exc:
            self.status.setText(f"Not downloaded: {describe_error(exc)}.")
            return
        self.status.setText(f"{variant.label} of {listing.repo_id} added to Downloads.")
        self._refresh_queued()

    def _refresh_queued(self) -> None:
        listing = self._listing
        if listing is None:
            return
        files = {
            s.filename
            for s in self._services.downloads.statuses()
            if s.repo_id == listing.repo_id and s.state is not DownloadState.CANCELLED
        }
        keys = frozenset(v.key for v in listing.variants if v.files[0].path in files)
        self.repo_view.model.set_queued(keys)
