"""Settings: models folders, chat defaults, offline mode and token, theme, where files live.

Every control writes through ``services.settings`` (which saves in the background) the moment
it changes; there is no Apply button. The page also listens to the store, so a change made
elsewhere (the Library's "Add folder…", the offline switch on Discover) shows here at once.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hardware import default_threads
from desktop_app.core.settings import CONTEXT_RANGE, KV_TYPES, THREADS_RANGE, Settings, Theme
from desktop_app.messages import describe_error
from desktop_app.messages_settings import describe_settings_load
from desktop_app.ui.services import Services
from desktop_app.ui.widgets.folder_list import FolderList
from desktop_app.ui.widgets.path_label import PathLabel
from desktop_app.ui.widgets.token_box import TokenBox

ERROR_STYLE = "color: #d64541;"
KV_LABELS = {
    "f16": "F16: full precision",
    "q8_0": "Q8_0: half the memory, near-identical output",
    "q4_0": "Q4_0: a quarter of the memory, some loss",
}
THEME_LABELS = {Theme.SYSTEM: "Follow the system", Theme.LIGHT: "Light", Theme.DARK: "Dark"}


def _wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class SettingsPage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._store = services.settings
        title = QLabel("Settings")
        title.setObjectName("pageTitle")
        self.notice = _wrapping_label(describe_settings_load(self._store.loaded))
        self.notice.setStyleSheet(ERROR_STYLE)
        self.notice.setVisible(bool(self.notice.text()))

        # Models folders.
        self.folder_list = FolderList()
        self.folders_note = _wrapping_label()
        folders_box = QGroupBox("Models folders")
        folders_layout = QVBoxLayout(folders_box)
        folders_layout.addWidget(
            _wrapping_label(
                "QuantDesk puts what it downloads, converts and imports in the first folder; "
                "it lists models in the others where they are."
            )
        )
        folders_layout.addWidget(self.folder_list, 1)
        folders_layout.addWidget(self.folders_note)

        # Defaults for new chats.
        self.ctx_spin = QSpinBox()
        self.ctx_spin.setRange(*CONTEXT_RANGE)
        self.ctx_spin.setSingleStep(1024)
        self.ctx_spin.setSuffix(" tokens")
        self.kv_combo = QComboBox()
        for kv in KV_TYPES:
            self.kv_combo.addItem(KV_LABELS.get(kv, kv), kv)
        self.threads_auto = QCheckBox(
            f"Automatic (all {default_threads()} cores, one fewer while another program is busy)"
        )
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(*THREADS_RANGE)
        threads_row = QHBoxLayout()
        threads_row.addWidget(self.threads_auto)
        threads_row.addWidget(self.threads_spin)
        threads_row.addStretch(1)
        self.mmap_check = QCheckBox("Map the model file instead of reading it into memory")
        self.mmap_check.setToolTip(
            "Loads faster and leaves the file in the system's cache, but replies come more "
            "slowly, and a model file changed or deleted while loaded stops the model."
        )
        defaults_box = QGroupBox("New chats")
        defaults_form = QFormLayout(defaults_box)
        defaults_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        defaults_form.addRow("Context length", self.ctx_spin)
        defaults_form.addRow("KV cache", self.kv_combo)
        defaults_form.addRow("Threads", threads_row)
        defaults_form.addRow("Loading", self.mmap_check)

        # Network and account.
        self.offline_check = QCheckBox("Work offline: never contact the Hugging Face hub")
        self.offline_note = _wrapping_label()
        self.token_box = TokenBox(services)
        network_box = QGroupBox("Network")
        network_layout = QVBoxLayout(network_box)
        network_layout.addWidget(self.offline_check)
        network_layout.addWidget(self.offline_note)
        network_layout.addSpacing(6)
        network_layout.addWidget(QLabel("<b>Hugging Face access token</b>"))
        network_layout.addWidget(self.token_box)

        # Appearance.
        self.theme_combo = QComboBox()
        for theme, label in THEME_LABELS.items():
            self.theme_combo.addItem(label, theme.value)
        look_box = QGroupBox("Appearance")
        look_form = QFormLayout(look_box)
        look_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        look_form.addRow("Theme", self.theme_combo)

        # Where things live.
        self.open_buttons: dict[str, QPushButton] = {}
        self.place_labels: dict[str, PathLabel] = {}
        places_box = QGroupBox("Where things live")
        places = QGridLayout(places_box)
        places.setColumnStretch(1, 1)
        for row, (key, name, folder) in enumerate(self._places()):
            path_label = PathLabel(str(folder))
            button = QPushButton("Open")
            button.setToolTip(f"Open {folder} in the file manager")
            # Looked up when clicked: the models folder can move while the app runs.
            button.clicked.connect(lambda _=False, k=key: self.open_folder(self._place(k)))
            places.addWidget(QLabel(name), row, 0)
            places.addWidget(path_label, row, 1)
            places.addWidget(button, row, 2)
            self.open_buttons[key] = button
            self.place_labels[key] = path_label
        self.open_message = _wrapping_label()
        self.open_message.setStyleSheet(ERROR_STYLE)
        self.open_message.hide()
        places.addWidget(self.open_message, len(self.open_buttons), 0, 1, 3)

        left = QVBoxLayout()
        left.addWidget(folders_box)
        left.addWidget(defaults_box)
        left.addWidget(look_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(network_box)
        right.addWidget(places_box)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addWidget(self.notice)
        body_layout.addLayout(columns, 1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(scroll, 1)

        self._show(self._store.settings)
        self.folder_list.folders_edited.connect(self._on_folder_list_folders_edited)
        self.ctx_spin.valueChanged.connect(self._on_ctx_spin_value_changed)
        self.kv_combo.currentIndexChanged.connect(self._on_kv_combo_index_changed)
        self.mmap_check.toggled.connect(self._on_mmap_check_toggled)
        self.threads_auto.toggled.connect(self._on_threads_changed)
        self.threads_spin.valueChanged.connect(self._on_threads_changed)
        self.offline_check.toggled.connect(self._on_offline_check_toggled)
        self.theme_combo.currentIndexChanged.connect(self._on_theme_combo_index_changed)
        self._store.changed.connect(self._show)
        self._store.save_failed.connect(self._on_store_save_failed)
        services.models_folder.changed.connect(self._on_models_folder_changed)
        services.models_folder.failed.connect(self._on_models_folder_failed)
        services.offline.changed.connect(self._on_offline_changed)

    def _places(self) -> list[tuple[str, str, Path]]:
        p = self._services.paths
        return [
            ("models", "Models", p.models),
            ("config", "Settings", p.config),
            ("data", "Data", p.data),
            ("logs", "Logs", p.logs),
            ("cache", "Cache", p.cache),
        ]

    def _place(self, key: str) -> Path:
        return next(folder for k, _name, folder in self._places() if k == key)

    def open_folder(self, folder: Path) -> bool:
        ok = folder.is_dir() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        self.open_message.setText("" if ok else f"Could not open {folder}.")
        self.open_message.setVisible(not ok)
        return ok

    # --- store -> widgets --------------------------------------------------------------------

    @Slot(object)
    def _show(self, settings: Settings) -> None:
        widgets = (
            self.ctx_spin,
            self.kv_combo,
            self.mmap_check,
            self.threads_auto,
            self.threads_spin,
            self.offline_check,
            self.theme_combo,
        )
        for w in widgets:
            w.blockSignals(True)
        try:
            folders = [str(f) for f in self._store.models_folders(self._services.paths.models)]
            self.folder_list.set_folders(folders)
            self.ctx_spin.setValue(settings.default_context)
            self.kv_combo.setCurrentIndex(max(0, self.kv_combo.findData(settings.default_kv_type)))
            self.mmap_check.setChecked(settings.map_model_files)
            self.threads_auto.setChecked(settings.threads is None)
            self.threads_spin.setValue(settings.threads or default_threads())
            self.threads_spin.setEnabled(settings.threads is not None)
            self.theme_combo.setCurrentIndex(self.theme_combo.findData(settings.theme.value))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._show_folders_note()
        self._show_offline()

    def _show_folders_note(self) -> None:
        folders = [str(f) for f in self._store.models_folders(self._services.paths.models)]
        in_use = str(self._services.paths.models)
        switch = self._services.models_folder
        text = ""
        if folders and folders[0] != in_use:
            if switch.problem:
                text = (
                    f"New models still go to {in_use}: {folders[0]} cannot be used "
                    f"({switch.problem})."
                )
            else:
                text = f"Getting {folders[0]} ready for new models…"
        self.folders_note.setText(text)
        self.folders_note.setVisible(bool(text))

    @Slot(object, object)
    def _on_models_folder_changed(self, _old: Path, new: Path) -> None:
        self.place_labels["models"].set_path(str(new))
        self.open_buttons["models"].setToolTip(f"Open {new} in the file manager")
        self._show_folders_note()

    @Slot(object, str)
    def _on_models_folder_failed(self, _folder: Path, _why: str) -> None:
        self._show_folders_note()

    def _show_offline(self) -> None:
        switch = self._services.offline
        self.offline_check.blockSignals(True)
        self.offline_check.setChecked(switch.is_offline())
        self.offline_check.blockSignals(False)
        forced = switch.forced_by_environment
        self.offline_check.setEnabled(not forced)
        self.offline_note.setText(
            "HF_HUB_OFFLINE is set in the environment, so QuantDesk stays offline."
            if forced
            else "Offline, QuantDesk still lists, loads and converts models on this computer."
        )

    # --- widgets -> store --------------------------------------------------------------------

    @Slot(list)
    def _on_folder_list_folders_edited(self, folders: list[str]) -> None:
        default = self._store.default_models_folder or self._services.paths.models
        # Only the default folder: store nothing, so the default keeps following the platform.
        stored = () if folders == [str(default)] else tuple(folders)
        self._store.update(models_folders=stored)  # changed -> _show refreshes the note

    @Slot(int)
    def _on_ctx_spin_value_changed(self, value: int) -> None:
        self._store.update(default_context=value)

    @Slot(int)
    def _on_kv_combo_index_changed(self, _index: int) -> None:
        self._store.update(default_kv_type=self.kv_combo.currentData())

    @Slot(bool)
    def _on_mmap_check_toggled(self, checked: bool) -> None:
        self._store.update(map_model_files=checked)

    @Slot()
    def _on_threads_changed(self) -> None:
        auto = self.threads_auto.isChecked()
        self.threads_spin.setEnabled(not auto)
        self._store.update(threads=None if auto else self.threads_spin.value())

    @Slot(bool)
    def _on_offline_check_toggled(self, offline: bool) -> None:
        self._services.offline.set_offline(offline)
        self._store.update(offline=offline)

    @Slot(bool)
    def _on_offline_changed(self, _offline: bool) -> None:
        self._show_offline()

    @Slot(int)
    def _on_theme_combo_index_changed(self, _index: int) -> None:
        self._store.update(theme=Theme(self.theme_combo.currentData()))

    @Slot(object)
    def _on_store_save_failed(self, exc: BaseException) -> None:
        self.notice.setText(f"Settings could not be saved: {describe_error(exc)}")
        self.notice.setVisible(True)
