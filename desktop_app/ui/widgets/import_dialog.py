"""Ask how to bring model files into QuantDesk's folder: move, copy, hard link or symbolic link."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.library.manage import ImportMode

MODES: tuple[tuple[ImportMode, str, str], ...] = (
    ("copy", "Copy", "A separate copy; the original stays where it is. Uses the space twice."),
    ("move", "Move", "The file moves into QuantDesk's folder; no extra space is used."),
    (
        "hardlink",
        "Hard link",
        "The same data under a second name; no extra space. Same disk only. The data "
        "stays until both names are deleted.",
    ),
    (
        "symlink",
        "Symbolic link",
        "A pointer to the original; no extra space. Breaks if the original is moved or deleted.",
    ),
)


class ImportModeDialog(QDialog):
    def __init__(self, paths: Sequence[str], models_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import models")
        self.setMinimumWidth(480)
        names = ", ".join(Path(p).name for p in paths[:3])
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        intro = QLabel(
            f"Bring {names}{more} into QuantDesk's models folder?\n"
            f"It goes to {models_root / 'imported'}."
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.setSpacing(2)
        layout.addWidget(intro)
        layout.addSpacing(8)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for i, (mode, label, note) in enumerate(MODES):
            button = QRadioButton(label)
            button.setChecked(i == 0)
            self.group.addButton(button, i)
            self.buttons[mode] = button
            hint = QLabel(note)
            hint.setWordWrap(True)
            hint.setIndent(24)
            hint.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(button)
            layout.addWidget(hint)
            layout.addSpacing(8)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout.addStretch(1)
        layout.addWidget(box)
        self.resize(self.minimumWidth(), self.heightForWidth(self.minimumWidth()))

    def mode(self) -> ImportMode:
        return MODES[max(0, self.group.checkedId())][0]


def ask_import_mode(parent: QWidget, paths: Sequence[str], models_root: Path) -> ImportMode | None:
    """The chosen mode, or None when the user cancels."""
    dialog = ImportModeDialog(paths, models_root, parent)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.mode()
    finally:
        dialog.deleteLater()
