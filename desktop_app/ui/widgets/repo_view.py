"""Discover's repo panel: what one repo offers, every quant priced for this machine.

A view only: the page fills it (listing, priced rows, notes) and listens to its signals.
Every text that came from the hub (card summary, file names, licence) is set as plain text:
labels use ``Qt.PlainText`` and the summary is a read-only ``QPlainTextEdit``, so markup in a
model card is shown literally, never rendered.

Signals:
    context_changed(int): the user chose another context length.
    download_clicked(str): the Download button of the variant with this key.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hub.listing import RepoListing
from desktop_app.formatting import human_bytes, human_count
from desktop_app.ui.models.variant_model import Column, VariantModel, VariantRole
from desktop_app.ui.widgets.row_delegates import ButtonDelegate

DEFAULT_CONTEXT = 4096
NOTE_STYLE = "color: palette(mid);"
ERROR_STYLE = "color: #d64541;"


def _plain_label(text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class RepoView(QWidget):
    context_changed = Signal(int)
    download_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = _plain_label(wrap=False)
        self.title.setObjectName("repoTitle")
        self.title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.meta = _plain_label()
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setMaximumHeight(96)
        self.summary.setPlaceholderText("The model card has no summary.")

        self.context = QSpinBox()
        self.context.setRange(256, 1_048_576)
        self.context.setSingleStep(1024)
        self.context.setValue(DEFAULT_CONTEXT)
        self.context.setSuffix(" tokens")
        self.context.setGroupSeparatorShown(True)
        self.context.setKeyboardTracking(False)  # price once the number is typed, not per digit
        self.context.setToolTip("The context length the fit badges are judged at")
        self.estimate_note = _plain_label()
        self.estimate_note.setStyleSheet(NOTE_STYLE)
        ctx_row = QHBoxLayout()
        ctx_row.addWidget(QLabel("Context"))
        ctx_row.addWidget(self.context)
        ctx_row.addSpacing(8)
        ctx_row.addWidget(self.estimate_note, 1)

        self.model = VariantModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        # The plain-words note wraps (rows grow to fit it) rather than being cut off.
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setMinimumSectionSize(34)  # room for the Download button
        self.table.setMouseTracking(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.NOTE, QHeaderView.ResizeMode.Stretch)
        self.button_delegate = ButtonDelegate(VariantRole.BUTTON_ENABLED, self.table)
        self.table.setItemDelegateForColumn(Column.DOWNLOAD, self.button_delegate)
        self.button_delegate.clicked.connect(self._on_button_clicked)

        self.extras = _plain_label()
        self.refused = _plain_label()
        self.refused.setStyleSheet(ERROR_STYLE)
        self.message = _plain_label()

        # Everything shown only once a listing is there, hidden and shown as one.
        self.details = QWidget()
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(self.summary)
        details.addLayout(ctx_row)
        details.addWidget(self.table, 1)
        details.addWidget(self.extras)
        details.addWidget(self.refused)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.meta)
        layout.addWidget(self.details, 100)
        layout.addWidget(self.message)
        layout.addStretch(1)  # keeps the title at the top while the details are hidden

        self.context.valueChanged.connect(self.context_changed)
        self.show_nothing()

    # --- states ------------------------------------------------------------------------------

    def show_nothing(self) -> None:
        self.title.setText("No repo selected")
        self.meta.setText("Pick a repo on the left to see its files and what fits this machine.")
        self._set_details_visible(False)
        self.message.setText("")

    def show_loading(self, repo_id: str) -> None:
        self.title.setText(repo_id)
        self.meta.setText("Reading the repo's file list…")
        self.message.setText("")
        self.message.setStyleSheet("")
        self.model.set_rows(())
        self._set_details_visible(False)

    def show_error(self, repo_id: str, text: str) -> None:
        self.title.setText(repo_id)
        self.meta.setText("")
        self.model.set_rows(())
        self._set_details_visible(False)
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE)

    def show_listing(self, listing: RepoListing) -> None:
        self.title.setText(listing.repo_id)
        parts = []
        if listing.card.license:
            parts.append(f"License: {listing.card.license}")
        if listing.downloads is not None:
            parts.append(f"{human_count(listing.downloads)} downloads")
        if listing.likes is not None:
            parts.append(f"{listing.likes:,} likes")
        if listing.last_modified:
            parts.append(f"updated {listing.last_modified[:10]}")
        if listing.gated:
            parts.append("gated: accept its terms on huggingface.co and use your token")
        if listing.offline or listing.from_cache:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(listing.fetched_at))
            parts.append(f"file list saved {when}")
        self.meta.setText(" · ".join(parts))
        self.summary.setPlainText(listing.card.summary)
        extras = [
            f"{e.kind}: {e.file.path}"
            + (f" ({human_bytes(e.file.size)})" if e.file.size is not None else "")
            for e in listing.extras
        ]
        self.extras.setText(
            "Extras (not models: vision projector, importance matrix):\n" + "\n".join(extras)
            if extras
            else ""
        )
        self.extras.setVisible(bool(extras))
        refused = [f"{r.shown} ({r.reason})" for r in listing.rejected]
        self.refused.setText(
            f"{len(refused)} file name{'s' if len(refused) != 1 else ''} refused as unsafe on "
            "this computer (never downloaded):\n" + "\n".join(refused[:8])
            if refused
            else ""
        )
        self.refused.setVisible(bool(refused))
        self.details.setVisible(True)
        self.message.setStyleSheet("")
        self.message.setText(
            "" if listing.variants else "This repo has no GGUF model files QuantDesk can use."
        )

    def set_estimate_note(self, text: str, *, error: bool = False) -> None:
        self.estimate_note.setText(text)
        self.estimate_note.setStyleSheet(ERROR_STYLE if error else NOTE_STYLE)

    def _set_details_visible(self, visible: bool) -> None:
        self.details.setVisible(visible)

    @Slot(QModelIndex)
    def _on_button_clicked(self, index: QModelIndex) -> None:
        key = index.data(VariantRole.KEY)
        if isinstance(key, str):
            self.download_clicked.emit(key)
