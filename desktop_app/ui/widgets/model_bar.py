"""The chat page's model strip: pick a file, context and threads, load/unload, see progress."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from desktop_app.core.hardware import default_threads
from desktop_app.core.settings import Settings

MAX_RECENT = 10


class ModelBar(QWidget):
    """Signals:
    load_requested(str, int, int): path, context length, threads.
    unload_requested().
    """

    load_requested = Signal(str, int, int)
    unload_requested = Signal()

    def __init__(self, start_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._start_dir = start_dir
        self._loaded = False
        self.model_combo = QComboBox()
        self.model_combo.setMinimumWidth(200)
        self.model_combo.setPlaceholderText("Choose a model…")
        self.browse_button = QPushButton("Open model file…")
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.ctx_spin = QSpinBox()
        self.ctx_spin.setRange(256, 262144)
        self.ctx_spin.setSingleStep(1024)
        self.ctx_spin.setValue(4096)
        self.ctx_spin.setPrefix("Context ")
        self.ctx_spin.setToolTip("Context length in tokens")
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setPrefix("Threads ")
        # 0 = automatic: shown as a word, sent as "not set" (the engine tunes it).
        self.threads_spin.setSpecialValueText("Threads: auto")
        self.threads_spin.setValue(0)
        self.threads_spin.setToolTip(
            f"Auto: all {default_threads()} cores, or one fewer while another program keeps "
            "a core busy (the engine times both as it generates). A number: exactly that."
        )
        self.load_button = QPushButton("Load")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        self.status = QLabel("No model loaded")
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(120)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.model_combo, 2)
        layout.addWidget(self.browse_button)
        layout.addWidget(self.ctx_spin)
        layout.addWidget(self.threads_spin)
        layout.addWidget(self.load_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status, 1)

    @Slot(object)
    def set_start_dir(self, folder: Path) -> None:
        """Where "Open" dialogs start (the models folder in effect)."""
        self._start_dir = folder

    def apply_settings(self, settings: Settings) -> None:
        """Take the default context and threads from Settings (not while a model is loaded:
        the spin boxes then show what it was loaded with)."""
        if self._loaded:
            return
        self.ctx_spin.setValue(settings.default_context)
        self.threads_spin.setValue(settings.threads or 0)

    def set_recent(self, paths: list[str]) -> None:
        current = self.current_path()
        self.model_combo.clear()
        for p in paths[:MAX_RECENT]:
            self.model_combo.addItem(Path(p).name, p)
            self.model_combo.setItemData(self.model_combo.count() - 1, p, 3)  # tooltip role
        if current:
            self.select_path(current)

    def select_path(self, path: str) -> None:
        index = self.model_combo.findData(path)
        if index < 0:
            self.model_combo.insertItem(0, Path(path).name, path)
            index = 0
        self.model_combo.setCurrentIndex(index)

    def current_path(self) -> str:
        data = self.model_combo.currentData()
        return str(data) if data else ""

    def set_loading(self, fraction: float | None) -> None:
        """None hides the bar; a fraction shows load progress and disables the controls."""
        busy = fraction is not None
        self.progress.setVisible(busy)
        if fraction is not None:
            self.progress.setValue(int(fraction * 100))
        for w in (
            self.model_combo,
            self.browse_button,
            self.ctx_spin,
            self.threads_spin,
            self.load_button,
        ):
            w.setEnabled(not busy)

    def set_loaded(self, loaded: bool, status: str, details: str = "") -> None:
        """``details``: the status's tooltip (cleared when not given)."""
        self._loaded = loaded
        self.load_button.setText("Unload" if loaded else "Load")
        self.status.setText(status)
        self.status.setToolTip(details)

    @Slot()
    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open model file", str(self._start_dir), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.select_path(path)

    @Slot()
    def _on_load_clicked(self) -> None:
        if self._loaded:
            self.unload_requested.emit()
            return
        path = self.current_path()
        if not path:
            self.status.setText("Choose a model file first")
            return
        self.load_requested.emit(path, self.ctx_spin.value(), self.threads_spin.value())
