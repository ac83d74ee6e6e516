"""The folder QuantDesk writes new models to, switched while the app runs.

The first models folder in Settings is where downloads, conversions and imports go. When the
user puts another folder first, the switch makes sure that folder exists (on the ``io`` pool: it
may be an unplugged drive or a slow share), then moves ``services.paths.models`` and the
download manager over and tells the pages (``changed``), which point their own defaults there.
Downloads already listed finish where they started. A folder that cannot be used leaves
everything as it was and says why (``failed``), where the user made the change.

Changes can arrive faster than folders are made (reordering twice in a row): only the result
for the folder that is still first when it arrives is applied.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core.settings import Settings
from desktop_app.messages import describe_error
from desktop_app.ui.tasks import Op

if TYPE_CHECKING:
    from desktop_app.ui.services import Services


def _make_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return folder


class ModelsFolderSwitch(QObject):
    changed = Signal(object, object)  # (old, new) folder in effect, as Path
    failed = Signal(object, str)  # the folder that could not be used, and why

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services: Services | None = None
        self._pending: Path | None = None
        self.problem = ""  # why the folder first in Settings is not in use ("" when it is)

    def bind(self, services: Services) -> None:
        """Follow ``services.settings`` from now on (app.py, once)."""
        self._services = services
        services.settings.changed.connect(self._on_settings_changed)
        # A first folder that could not be used at start-up (app.py fell back to the default)
        # is tried again now, so Settings shows why, or the folder comes into use.
        self._on_settings_changed(services.settings.settings)

    def wanted(self) -> Path | None:
        svc = self._services
        if svc is None:
            return None
        return svc.settings.models_folders(svc.paths.models)[0]

    @Slot(object)
    def _on_settings_changed(self, _settings: Settings) -> None:
        svc = self._services
        wanted = self.wanted()
        if svc is None or wanted is None or wanted == self._pending:
            return
        if wanted == svc.paths.models:
            self.problem = ""
            return
        self._pending = wanted
        (
            Op(_make_folder, wanted)
            .success(lambda folder: self._use(folder))
            .failure(lambda exc: self._fail(wanted, exc))
            .owned_by(self)
            .run_in(svc.pools.io)
        )

    def _use(self, folder: Path) -> None:
        svc = self._services
        if folder == self._pending:
            self._pending = None
        if svc is None or folder != self.wanted() or folder == svc.paths.models:
            return  # the user has moved on: a later change brings its own result
        old = svc.paths.models
        svc.paths = replace(svc.paths, models=folder)
        svc.downloads.set_models_root(folder)
        self.problem = ""
        self.changed.emit(old, folder)

    def _fail(self, folder: Path, exc: BaseException) -> None:
        if folder == self._pending:
            self._pending = None
        if folder != self.wanted():
            return
        self.problem = describe_error(exc)
        self.failed.emit(folder, self.problem)
