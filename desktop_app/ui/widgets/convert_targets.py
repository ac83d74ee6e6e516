"""The Convert page's "Target types" box: the checklist, the fit context, imatrix and requantize.

Holds no state of its own beyond its controls: checks live in ``TargetTypesModel``; the page
reads ``context()``, ``imatrix`` and the requantize box, and listens to ``changed``.

Signals:
    changed(): anything that alters what would be made (checks, imatrix, requantize, context).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.convert_source import writable_types
from desktop_app.core.ladder import DEFAULT_LADDER
from desktop_app.ui.models.target_types_model import Column, TargetTypesModel

CONTEXTS = (2048, 4096, 8192, 16384, 32768)
DEFAULT_CONTEXT = 4096
WARNING_STYLE = "color: #b36b00;"
REQUANTIZE_WARNING = (
    "Re-quantizing an already quantized file stacks a second rounding error on the first: the "
    "result is worse than the same type made from the F16 original. Use it only when no "
    "original is available."
)


class ConvertTargetsPanel(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Target types", parent)
        self.imatrix: Path | None = None
        self.model = TargetTypesModel(writable_types(), self)
        self.model.set_checked(DEFAULT_LADDER)

        self.context_combo = QComboBox()
        for n in CONTEXTS:
            self.context_combo.addItem(f"{n:,} tokens", n)
        self.context_combo.setCurrentIndex(CONTEXTS.index(DEFAULT_CONTEXT))
        self.context_combo.setToolTip("The context length the Fit column is judged at")
        self.defaults_button = QPushButton("Ladder defaults")
        self.defaults_button.setToolTip(", ".join(DEFAULT_LADDER))
        self.clear_button = QPushButton("None")
        top = QHBoxLayout()
        top.addWidget(QLabel("Fit at"))
        top.addWidget(self.context_combo)
        top.addStretch(1)
        top.addWidget(self.defaults_button)
        top.addWidget(self.clear_button)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        for col in (Column.TYPE, Column.SIZE, Column.BPW, Column.FIT):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.NOTE, QHeaderView.ResizeMode.Stretch)

        self.imatrix_label = QLabel("No importance matrix")
        self.imatrix_label.setTextFormat(Qt.TextFormat.PlainText)
        self.imatrix_button = QPushButton("Importance matrix…")
        self.imatrix_button.setToolTip(
            "An imatrix GGUF made by llama-imatrix for this model; enables the types marked "
            "“needs imatrix”"
        )
        self.imatrix_clear = QPushButton("Clear")
        self.imatrix_clear.setEnabled(False)
        imatrix_row = QHBoxLayout()
        imatrix_row.addWidget(self.imatrix_button)
        imatrix_row.addWidget(self.imatrix_label, 1)
        imatrix_row.addWidget(self.imatrix_clear)

        self.requantize_box = QCheckBox("Allow re-quantizing (the source is already quantized)")
        self.requantize_box.setToolTip(REQUANTIZE_WARNING)
        self.requantize_warning = QLabel(REQUANTIZE_WARNING)
        self.requantize_warning.setWordWrap(True)
        self.requantize_warning.setStyleSheet(WARNING_STYLE)
        self.requantize_box.hide()
        self.requantize_warning.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(imatrix_row)
        layout.addWidget(self.requantize_box)
        layout.addWidget(self.requantize_warning)

        self.model.checked_changed.connect(self.changed)
        self.context_combo.currentIndexChanged.connect(self._on_context_combo_changed)
        self.defaults_button.clicked.connect(self._on_defaults_clicked)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        self.imatrix_button.clicked.connect(self._on_imatrix_clicked)
        self.imatrix_clear.clicked.connect(self._on_imatrix_clear_clicked)
        self.requantize_box.toggled.connect(self._on_requantize_toggled)

    def context(self) -> int:
        return int(self.context_combo.currentData())

    def allow_requantize(self) -> bool:
        return not self.requantize_box.isHidden() and self.requantize_box.isChecked()

    def set_source_quantized(self, quantized: bool) -> None:
        """Offer the requantize box only for a quantized source (unticked each new source)."""
        self.requantize_box.setChecked(False)
        self.requantize_box.setVisible(quantized)
        self.requantize_warning.hide()

    def set_imatrix(self, path: Path | None) -> None:
        self.imatrix = path
        self.imatrix_label.setText(str(path) if path else "No importance matrix")
        self.imatrix_label.setToolTip(str(path) if path else "")
        self.imatrix_clear.setEnabled(path is not None)
        self.model.set_imatrix_available(path is not None)
        self.changed.emit()

    @Slot(int)
    def _on_context_combo_changed(self, _index: int) -> None:
        self.changed.emit()

    @Slot()
    def _on_defaults_clicked(self) -> None:
        self.model.set_checked(DEFAULT_LADDER)

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.model.set_checked(())

    @Slot()
    def _on_imatrix_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose an importance matrix", "", "Importance matrix (*.gguf);;All files (*)"
        )
        if path:
            self.set_imatrix(Path(path))

    @Slot()
    def _on_imatrix_clear_clicked(self) -> None:
        self.set_imatrix(None)

    @Slot(bool)
    def _on_requantize_toggled(self, allowed: bool) -> None:
        self.requantize_warning.setVisible(allowed)
        self.model.set_allow_requantize(allowed)
