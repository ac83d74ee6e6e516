"""Library: every GGUF model on this machine, QuantDesk's own and other apps', in one place.

Scans run on the io pool (``LibraryScanner``), never on the GUI thread; deleting and importing
run on the heavy pool (``LibraryActions``). Other apps' files are never changed: they can be
hidden from the list, not deleted. Actions on the selected model are buttons in the details
panel and a context menu on the views; .gguf files dropped on the page are imported.

Signals:
    open_in_chat(str): the user wants this model file loaded in Chat.
    open_in_compare(list): the loadable variants of a family (paths, best quality first).
    outcome_shown(object): a scan's ScanOutcome, once all its rows are in the table (they are
        added a batch per event-loop turn, so this can come a few turns after the scan ends).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.library.index import CACHE_FILE_NAME, LibraryIndex
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_error, describe_scan_problem
from desktop_app.ui.library_actions import LibraryActions
from desktop_app.ui.library_scanner import (
    LibraryScanner,
    ScanOutcome,
    SourcesFactory,
    default_sources_factory,
)
from desktop_app.ui.models.library_model import SOURCE_NAMES, LibraryRow, source_name
from desktop_app.ui.services import Services
from desktop_app.ui.widgets.folders_dialog import FoldersDialog
from desktop_app.ui.widgets.library_views import LibraryViews

ERROR_STYLE = "color: #d64541;"
# New table rows per event-loop turn. The sorting proxy places each with Python calls, about
# 0.15 ms a row on an idle 2-core machine: 50 rows keep a turn (with the repaint of a visible
# table) near 20 ms, well under the 50 ms stall budget even on a busy machine.
INSERT_BATCH = 50


def _gguf_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [
        url.toLocalFile()
        for url in mime.urls()
        if url.isLocalFile() and url.toLocalFile().lower().endswith(".gguf")
    ]


class LibraryPage(QWidget):
    open_in_chat = Signal(str)
    open_in_compare = Signal(list)
    outcome_shown = Signal(object)  # a scan's ScanOutcome, once every row is in the table

    def __init__(
        self,
        services: Services,
        parent: QWidget | None = None,
        *,
        sources_factory: SourcesFactory = default_sources_factory,
    ) -> None:
        """``sources_factory(own folders, added folders)`` lists the places to scan; tests
        pass one reading a fake home (the default reads this machine's real one)."""
        super().__init__(parent)
        self._outcome: ScanOutcome | None = None
        self._feeding = False  # rows of the outcome are being appended, a batch per turn
        self.insert_batch = INSERT_BATCH
        self._compare_unavailable: str | None = None
        self.setAcceptDrops(True)

        self.actions = LibraryActions(services, self)
        self.scanner = LibraryScanner(
            LibraryIndex(services.paths.cache / CACHE_FILE_NAME),
            sources_factory,
            [services.paths.models],
            services.pools.io,
            self,
        )
        self.scanner.set_folders(self._added_folders())

        title = QLabel("Library")
        title.setObjectName("pageTitle")
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(self.summary, 1)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name, family or path")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(200)
        self.source_filter = QComboBox()
        self.source_filter.addItem("All sources", None)
        for kind, name in SOURCE_NAMES.items():
            self.source_filter.addItem(name, kind)
        self.show_hidden = QCheckBox("Show hidden")
        self.show_hidden.setToolTip("Other apps' files you hid from this list")
        self.rescan_button = QPushButton("Rescan")
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("Include a folder where you keep GGUF files")
        self.folders_button = QPushButton("Folders…")
        self.folders_button.setToolTip("Every folder the library reads; remove ones you added")
        self.folders_dialog: FoldersDialog | None = None
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip(
            "Bring GGUF files into QuantDesk's models folder (or drop them on this page)"
        )
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.search, 2)
        toolbar.addWidget(self.source_filter)
        toolbar.addWidget(self.show_hidden)
        toolbar.addStretch(1)
        toolbar.addWidget(self.rescan_button)
        toolbar.addWidget(self.add_folder_button)
        toolbar.addWidget(self.folders_button)
        toolbar.addWidget(self.import_button)

        self.views = LibraryViews(self)
        self.model = self.views.model
        self.proxy = self.views.proxy
        self.family_model = self.views.family_model
        self.details = self.views.details
        self.table = self.views.table
        self.tree = self.views.tree

        self.notice = QLabel("")  # the outcome of the last action (delete, import, hide)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.status = QLabel("")  # the scan: progress, then what it found
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        status_row = QHBoxLayout()
        status_row.addWidget(self.notice, 1)
        status_row.addWidget(self.status)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(toolbar)
        layout.addWidget(self.views, 1)
        layout.addLayout(status_row)

        self.scanner.scan_started.connect(self._on_scanner_scan_started)
        self.scanner.progress_changed.connect(self._on_scanner_progress_changed)
        self.scanner.scan_finished.connect(self._on_scanner_scan_finished)
        self.scanner.scan_failed.connect(self._on_scanner_scan_failed)
        self.actions.notice.connect(self._on_actions_notice)
        self.actions.hidden_changed.connect(self._on_actions_hidden_changed)
        self.actions.folders_changed.connect(self._on_actions_folders_changed)
        services.models_folder.changed.connect(self._on_models_folder_changed)
        self.actions.deleted.connect(self._on_actions_deleted)
        self.actions.imported.connect(self.rescan)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.source_filter.currentIndexChanged.connect(self._on_source_filter_changed)
        self.show_hidden.toggled.connect(self._on_show_hidden_toggled)
        self.rescan_button.clicked.connect(self.rescan)
        self.add_folder_button.clicked.connect(self.actions.add_folder)
        self.folders_button.clicked.connect(self._on_folders_clicked)
        self.import_button.clicked.connect(self.actions.choose_and_import)
        d = self.details
        d.chat_button.clicked.connect(self._on_chat_clicked)
        d.compare_button.clicked.connect(self._on_compare_clicked)
        d.reveal_button.clicked.connect(self._on_reveal_clicked)
        d.hide_button.clicked.connect(self._on_hide_clicked)
        d.delete_button.clicked.connect(self._on_delete_clicked)
        self.views.selection_changed.connect(self._update_actions)
        self.views.context_menu_requested.connect(self._on_views_context_menu_requested)
        self.views.activated.connect(self._on_chat_clicked)
        self.model.set_hidden(self.actions.hidden)
        self._update_show_hidden_label()
        self._update_actions()

    # --- lifecycle ---------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._outcome is None and not self.scanner.scanning:
            self.rescan()  # the first time the page is shown

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel the running scan and stop watching folders (the main window calls this)."""
        self.scanner.shutdown()

    def set_compare_available(self, available: bool, reason: str = "") -> None:
        """Whether "Open family in Compare" can be used (``reason`` is its tooltip if not)."""
        self._compare_unavailable = None if available else reason
        self._update_actions()

    @Slot()
    def rescan(self) -> None:
        self.scanner.rescan()

    def _added_folders(self) -> list[Path]:
        return [Path(f) for f in self.actions.folders]

    # --- scan results ------------------------------------------------------------------------

    @Slot()
    def _on_scanner_scan_started(self) -> None:
        self.status.setStyleSheet("")
        self.status.setText("Looking for models…")
        if self._outcome is None:
            self.views.show_message("Looking for models…")

    @Slot(int, int)
    def _on_scanner_progress_changed(self, done: int, total: int) -> None:
        self.status.setText(f"Reading model files… {done:,} of {total:,}")

    @Slot(object)
    def _on_scanner_scan_finished(self, outcome: ScanOutcome) -> None:
        self._outcome = outcome
        if not self._feeding:  # else the running feed picks up the newer outcome
            self._feed_rows()

    def _feed_rows(self) -> None:
        """Move the outcome's rows into the table, INSERT_BATCH new rows per event-loop turn
        (a thousand rows at once stalled the GUI for 150-250 ms: benchmarks/RESULTS.md)."""
        outcome = self._outcome
        if outcome is None:
            return
        left = self.views.set_rows(outcome.rows, self.insert_batch)
        self._feeding = left > 0
        if self._feeding:
            shown = len(outcome.rows) - left
            self.status.setText(f"Showing models… {shown:,} of {len(outcome.rows):,}")
            QTimer.singleShot(0, self, self._feed_rows)
            return
        self._show_outcome(outcome)

    def _show_outcome(self, outcome: ScanOutcome) -> None:
        snap = outcome.snapshot
        self._rebuild_side_views()
        n = len(outcome.rows)
        text = f"{n:,} model file{'s' if n != 1 else ''}"
        broken = sum(1 for r in outcome.rows if r.entry.broken_reason is not None)
        if broken:
            text += f", {broken} broken"
        text += f" (scanned in {snap.stats.seconds:.1f} s)."
        if snap.problems:
            skipped = len(snap.problems)
            text += f" {skipped} place{'s' if skipped != 1 else ''} skipped; hover for details."
        self.status.setText(text)
        self.status.setToolTip(
            "\n".join(f"{p.path}: {describe_scan_problem(p.code)}" for p in snap.problems[:40])
        )
        self._update_empty_state()
        self._update_actions()
        self.outcome_shown.emit(outcome)

    @Slot(object)
    def _on_scanner_scan_failed(self, exc: BaseException) -> None:
        self.status.setText(f"The scan failed: {describe_error(exc)}")
        self.status.setStyleSheet(ERROR_STYLE)

    def _rebuild_side_views(self) -> None:
        outcome = self._outcome
        if outcome is None:
            return
        rows = {r.key: r for r in self.model.rows()}
        self.views.set_families(outcome.families, rows, self.actions.hidden)
        self.views.set_disk_use(outcome.by_source, outcome.by_family)
        total = sum(r.entry.size for r in rows.values())
        parts = [f"{u.label} {human_bytes(u.size)}" for u in self.views.source_use.rows()]
        self.summary.setText(
            f"{human_bytes(total)} in {len(rows):,} files"
            + (": " if parts else "")
            + " · ".join(parts)
        )

    def _update_empty_state(self) -> None:
        outcome = self._outcome
        if outcome is None:
            return
        if self.model.rowCount() == 0:
            looked = "".join(
                f"<li>{html.escape(source_name(kind))}: {html.escape(folder)}</li>"
                for kind, folder in outcome.looked_in
            )
            self.views.show_message(
                "<h3>No models found yet</h3>"
                f"<p>QuantDesk looked in:</p><ul>{looked}</ul>"
                "<p>Drop .gguf files on this page or use <b>Import…</b> to bring a model in, "
                "or <b>Add folder…</b> to include a folder where you keep models.</p>",
                rich=True,
            )
        elif self.proxy.rowCount() == 0:
            self.views.show_message(
                "No models match the search or source filter."
                + ("" if self.show_hidden.isChecked() else " Hidden models are not searched.")
            )
        else:
            self.views.show_table()

    # --- filters -----------------------------------------------------------------------------

    @Slot(str)
    def _on_search_text_changed(self, text: str) -> None:
        self.views.set_text_filter(text)
        self._update_empty_state()

    @Slot(int)
    def _on_source_filter_changed(self, _index: int) -> None:
        self.views.set_source_filter(self.source_filter.currentData())
        self._update_empty_state()

    @Slot(bool)
    def _on_show_hidden_toggled(self, show: bool) -> None:
        self.views.set_show_hidden(show)
        self._update_empty_state()

    def _update_show_hidden_label(self) -> None:
        n = len(self.actions.hidden)
        self.show_hidden.setText(f"Show hidden ({n})" if n else "Show hidden")

    # --- the selected model ------------------------------------------------------------------

    def selected_row(self) -> LibraryRow | None:
        key = self.views.selected_key()
        return self.model.row_for_key(key) if key is not None else None

    @Slot()
    def _update_actions(self) -> None:
        row = self.selected_row()
        family = self.views.family(row.entry.family_key) if row is not None else None
        self.details.show_row(row, family)
        hidden = row is not None and self.model.is_hidden(row)
        self.details.set_actions(
            row, family, hidden=hidden, compare_unavailable=self._compare_unavailable
        )

    @Slot()
    def _on_chat_clicked(self) -> None:
        row = self.selected_row()
        if row is not None and row.entry.broken_reason is None:
            self.open_in_chat.emit(str(row.entry.path))

    @Slot()
    def _on_compare_clicked(self) -> None:
        row = self.selected_row()
        family = self.views.family(row.entry.family_key) if row is not None else None
        if family is None or self._compare_unavailable is not None:
            return
        paths = [str(v.path) for v in family.variants if v.broken_reason is None]
        if len(paths) >= 2:
            self.open_in_compare.emit(paths)

    @Slot()
    def _on_reveal_clicked(self) -> None:
        row = self.selected_row()
        if row is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(row.entry.path.parent)))

    @Slot()
    def _on_hide_clicked(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.actions.set_hidden(row, not self.model.is_hidden(row))

    @Slot()
    def _on_folders_clicked(self) -> None:
        """Open the Folders dialog (window-modal, not blocking: the scan goes on behind it)."""
        outcome = self._outcome
        existing = set(outcome.watch_dirs) if outcome is not None else set()
        other_apps = [
            (kind, folder)
            for kind, folder in (outcome.looked_in if outcome is not None else ())
            if kind not in ("quantdesk", "folder") and os.path.abspath(folder) in existing
        ]
        if self.folders_dialog is not None:
            self.folders_dialog.deleteLater()  # the last one, built from an older scan
        self.folders_dialog = FoldersDialog(self.actions, other_apps, self)
        self.folders_dialog.open()

    @Slot()
    def _on_delete_clicked(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.actions.confirm_and_delete(row)

    @Slot(QPoint, object)
    def _on_views_context_menu_requested(self, pos: QPoint, view: QAbstractItemView) -> None:
        d = self.details
        menu = QMenu(self)
        buttons = (d.chat_button, d.compare_button, d.reveal_button, d.hide_button)
        for button in (*buttons, d.delete_button):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        menu.exec(view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    # --- results of actions ------------------------------------------------------------------

    @Slot(str, bool)
    def _on_actions_notice(self, text: str, error: bool) -> None:
        self.notice.setText(text)
        self.notice.setStyleSheet(ERROR_STYLE if error else "")

    @Slot()
    def _on_actions_hidden_changed(self) -> None:
        self.model.set_hidden(self.actions.hidden)
        self._rebuild_side_views()
        self._update_show_hidden_label()
        self._update_empty_state()
        self._update_actions()

    @Slot()
    def _on_actions_folders_changed(self) -> None:
        self.scanner.set_folders(self._added_folders())
        self.rescan()

    @Slot(object, object)
    def _on_models_folder_changed(self, _old: Path, new: Path) -> None:
        self.scanner.set_own([new])
        self.scanner.set_folders(self._added_folders())
        self.rescan()

    @Slot(str)
    def _on_actions_deleted(self, key: str) -> None:
        self.model.remove_key(key)
        self._update_empty_state()
        self._update_actions()
        self.rescan()  # families and disk use follow

    # --- drag and drop -----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if _gguf_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = _gguf_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        # Not from inside the drop: a modal dialog there would keep the drag source waiting.
        QTimer.singleShot(0, self, lambda: self.actions.import_paths(paths))
