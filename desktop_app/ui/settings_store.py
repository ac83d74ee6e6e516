"""The settings every page reads: one object in Services, saved off the GUI thread.

``SettingsStore`` holds the current ``core.settings.Settings`` (immutable; each change makes a
new one), emits ``changed`` with it, and writes the file on the ``db`` pool: one thread, so
saves land in order, and a pool whose queued work is still run at exit, so the last change is
never dropped. A store built without paths (the ``Services`` default used by tests) keeps its
settings in memory only.

Signals (GUI thread):
    changed(object): the new Settings.
    save_failed(object): the exception of a save that did not reach the disk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from PySide6.QtWidgets import QApplication

from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import (
    Settings,
    SettingsLoad,
    load_settings,
    models_folders,
    save_settings,
    with_field,
)
from desktop_app.ui.offline import OfflineSwitch
from desktop_app.ui.tasks import Op

log = logging.getLogger(__name__)


class SettingsStore(QObject):
    changed = Signal(object)
    save_failed = Signal(object)

    def __init__(
        self,
        settings: Settings | None = None,
        paths: AppPaths | None = None,
        pool: QThreadPool | None = None,
        loaded: SettingsLoad | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings if settings is not None else Settings()
        self._paths = paths
        self._pool = pool
        self._loaded = loaded
        # The folder QuantDesk would use with nothing stored (AppPaths.models, which already
        # honours QUANTDESK_MODELS_DIR), kept apart from the folder in effect.
        self._default_models = paths.models if paths is not None else None

    @classmethod
    def load(cls, paths: AppPaths, pool: QThreadPool) -> SettingsStore:
        """Read the file now (start-up, before any window: one small file) and, if it was
        migrated, repaired or set aside, write the current version back in the background."""
        loaded = load_settings(paths)
        store = cls(loaded.settings, paths, pool, loaded)
        if loaded.needs_save:
            store._save()
        return store

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def loaded(self) -> SettingsLoad | None:
        """What happened when the file was read (None for an in-memory store)."""
        return self._loaded

    @property
    def default_models_folder(self) -> Path | None:
        return self._default_models

    def models_folders(self, fallback: Path | None = None) -> tuple[Path, ...]:
        """The models folders in effect, the download folder first. ``fallback`` is the default
        folder for a store built without paths (tests' in-memory store)."""
        default = self._default_models or fallback
        if default is None:
            return tuple(Path(p) for p in self._settings.models_folders)
        return models_folders(self._settings, default)

    def update(self, **changes: Any) -> None:
        """Apply ``changes`` (field=value), emit ``changed`` and save; no-op if nothing differs.

        Raises ``TypeError``/``ValueError`` for unknown fields or invalid values (programming
        errors: widgets only offer valid values)."""
        new = with_field(self._settings, **changes)
        if new == self._settings:
            return
        self._settings = new
        self.changed.emit(new)
        self._save()

    def _save(self) -> None:
        if self._paths is None or self._pool is None:
            return
        (
            Op(save_settings, self._paths, self._settings)
            .failure(self._on_save_failed)
            .owned_by(self)
            .run_in(self._pool)
        )

    def _on_save_failed(self, exc: BaseException) -> None:
        log.warning("settings not saved: %s", exc)
        self.save_failed.emit(exc)


def bind_offline(store: SettingsStore, switch: OfflineSwitch) -> None:
    """Start the switch from the stored choice, and store every change of it (whichever page
    flips it)."""
    switch.set_offline(store.settings.offline)

    @Slot(bool)
    def _on_switch_changed(_offline: bool) -> None:
        store.update(offline=switch.chosen())

    switch.changed.connect(_on_switch_changed)


def bind_theme(store: SettingsStore, app: QApplication) -> None:
    """Apply the stored theme now and whenever it changes."""
    from desktop_app.ui.theme import apply_theme, current_theme

    apply_theme(app, store.settings.theme.value)

    @Slot(object)
    def _on_store_changed(settings: Settings) -> None:
        if settings.theme.value != current_theme():
            apply_theme(app, settings.theme.value)

    store.changed.connect(_on_store_changed)
