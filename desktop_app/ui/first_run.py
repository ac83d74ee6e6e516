"""The welcome shown on the very first start: what this computer can run, and where files go.

Three parts: this machine's memory and the largest well-known model it runs comfortably at 4
bits; three models from the curated catalog that fit (name, parameters, download size, memory);
the offline switch and the folders QuantDesk uses. Closing it any way (Skip, Get started, the
window's close button, Esc) sets ``first_run_done``, so it never shows again. The facts are
gathered on the io pool; the dialog shows "Looking at this computer…" until they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hardware import MemorySnapshot, memory_snapshot
from desktop_app.core.hub.catalog import load_catalog
from desktop_app.core.size_guide import ReferenceModel
from desktop_app.core.suggestions import (
    SUGGESTED_QUANT,
    Suggestion,
    largest_fitting,
    suggest_models,
)
from desktop_app.formatting import human_bytes, human_count
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op


@dataclass(frozen=True)
class WelcomeFacts:
    memory: MemorySnapshot
    largest: ReferenceModel | None
    suggestions: tuple[Suggestion, ...]


def gather_welcome_facts() -> WelcomeFacts:
    """io pool: memory, what fits, three catalog suggestions."""
    memory = memory_snapshot()
    return WelcomeFacts(
        memory,
        largest_fitting(memory.available),
        tuple(suggest_models(load_catalog(), memory.available)),
    )


def _label(text: str = "", rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class FirstRunDialog(QDialog):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.facts: WelcomeFacts | None = None
        self.setWindowTitle("Welcome to QuantDesk")
        self.setMinimumWidth(640)

        heading = QLabel("Welcome to QuantDesk")
        heading.setObjectName("pageTitle")
        intro = _label(
            "QuantDesk runs language models on this computer, offline and private. Models come "
            "in several sizes and bit widths: fewer bits mean a smaller file and less memory, "
            "at some loss of quality."
        )
        self.memory_label = _label("Looking at this computer…")
        self.suggestions_box = QGroupBox("Three models that fit")
        self.suggestions_grid = QGridLayout(self.suggestions_box)
        self.suggestions_grid.setColumnStretch(0, 1)
        self.suggestions_grid.addWidget(_label("…"), 0, 0)

        self.offline_check = QCheckBox("Work offline: never contact the Hugging Face hub")
        self.offline_check.setChecked(services.offline.is_offline())
        self.offline_check.setEnabled(not services.offline.forced_by_environment)
        p = services.paths
        places = _label(
            f"Models you download or convert go to {p.models}. Settings are kept in "
            f"{p.config}, logs in {p.logs}. You can change the models folders, the defaults "
            "for new chats and the theme in Settings."
        )
        places.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QDialogButtonBox()
        self.start_button = buttons.addButton("Get started", QDialogButtonBox.ButtonRole.AcceptRole)
        self.skip_button = buttons.addButton("Skip", QDialogButtonBox.ButtonRole.RejectRole)
        self.start_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(self.memory_label)
        layout.addWidget(self.suggestions_box)
        layout.addWidget(self.offline_check)
        layout.addWidget(places)
        layout.addStretch(1)
        layout.addWidget(buttons)

        self.offline_check.toggled.connect(self._on_offline_check_toggled)
        self.finished.connect(self._on_finished)
        (
            Op(gather_welcome_facts)
            .success(self._show_facts)
            .failure(self._on_facts_failed)
            .owned_by(self)
            .run_in(services.pools.io)
        )

    def _show_facts(self, facts: WelcomeFacts) -> None:
        self.facts = facts
        mem = facts.memory
        text = (
            f"This computer has {human_bytes(mem.total)} of memory, "
            f"{human_bytes(mem.available)} of it free now. "
        )
        if facts.largest is not None:
            text += (
                f"At 4 bits ({SUGGESTED_QUANT}), models up to the size of {facts.largest.name} "
                f"({human_count(facts.largest.parameters)} parameters) fit comfortably; larger "
                "ones need fewer bits or more memory."
            )
        else:
            text += "That is too little for most models: close other programs first."
        self.memory_label.setText(text)
        self._clear_suggestions()
        grid = self.suggestions_grid
        if not facts.suggestions:
            grid.addWidget(_label("No model in the catalog fits the memory free right now."))
            return
        for col, head in enumerate(("Model", "Parameters", "Download", "Memory")):
            grid.addWidget(_label(f"<b>{head}</b>", rich=True), 0, col)
        for row, s in enumerate(facts.suggestions, start=1):
            name = _label(s.entry.repo_id)
            name.setToolTip(f"{s.entry.family}, {SUGGESTED_QUANT} file, estimated")
            grid.addWidget(name, row, 0)
            grid.addWidget(_label(s.entry.params or "?"), row, 1)
            grid.addWidget(_label(f"≈ {human_bytes(s.file_size)}"), row, 2)
            grid.addWidget(_label(f"≈ {human_bytes(s.total)}"), row, 3)
        note = _label("Find them on the Discover page; sizes are for the 4-bit file.")
        grid.addWidget(note, len(facts.suggestions) + 1, 0, 1, 4)

    def _clear_suggestions(self) -> None:
        while self.suggestions_grid.count():
            item = self.suggestions_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def _on_facts_failed(self, exc: BaseException) -> None:
        self.memory_label.setText(f"Could not look at this computer's memory ({exc}).")

    def suggestion_names(self) -> list[str]:
        return [s.entry.repo_id for s in self.facts.suggestions] if self.facts else []

    @Slot(bool)
    def _on_offline_check_toggled(self, offline: bool) -> None:
        self._services.offline.set_offline(offline)
        self._services.settings.update(offline=offline)

    @Slot(int)
    def _on_finished(self, _result: int) -> None:
        self._services.settings.update(first_run_done=True)


def show_first_run_if_needed(services: Services, parent: QWidget) -> FirstRunDialog | None:
    """Open the welcome (non-blocking) unless it was done; returns it if shown."""
    if services.settings.settings.first_run_done:
        return None
    dialog = FirstRunDialog(services, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
