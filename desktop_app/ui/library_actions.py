"""What the Library page changes on disk: deleting, importing, hidden files, added folders.

Deleting and importing write model files, so they run on the heavy pool (one at a time);
added folders are the models folders after the first, kept in Settings (``services.settings``);
the hidden paths file is saved on the io pool, each
save carrying a generation so a late one never undoes a newer one. Only QuantDesk's own files
can be deleted (``delete_model`` checks again); other apps' files can only be hidden.

Signals (GUI thread):
    notice(str, bool): a sentence for the status line, and whether it reports a failure.
    hidden_changed(): the set of hidden paths changed.
    folders_changed(): a folder was added or removed; the scan must follow.
    deleted(str): the entry key of a model file just deleted.
    imported(): files were imported (some may have failed; see the notice).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from desktop_app.core.library.hidden import HIDDEN_FILE_NAME, StoredPaths
from desktop_app.core.library.manage import DeleteResult, ImportMode, delete_model, import_model
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_error
from desktop_app.ui.models.library_model import LibraryRow, source_name
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets import import_dialog

ImportResult = tuple[str, Path | None, BaseException | None]


def _import_all(paths: Sequence[str], root: Path, mode: ImportMode) -> list[ImportResult]:
    """Heavy pool: import each file, collecting failures instead of stopping at the first."""
    results: list[ImportResult] = []
    for path in paths:
        try:
            results.append((path, import_model(path, root, mode), None))
        except Exception as exc:  # noqa: BLE001 - reported per file in the notice
            results.append((path, None, exc))
    return results


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


class LibraryActions(QObject):
    notice = Signal(str, bool)
    hidden_changed = Signal()
    folders_changed = Signal()
    deleted = Signal(str)
    imported = Signal()

    def __init__(self, services: Services, parent: QWidget) -> None:
        super().__init__(parent)
        self._services = services
        self._widget = parent  # dialogs' parent
        self._hidden_store = StoredPaths(services.paths.config / HIDDEN_FILE_NAME)
        # A small file read once, at construction, like the Chat page's recent models.
        self.hidden: frozenset[str] = self._hidden_store.load()
        # Added folders are the models folders after the first (Settings owns the list).
        self.folders: tuple[str, ...] = self._settings_folders()[1:]
        services.settings.changed.connect(self._on_settings_changed)
        self._generation = 0
        self._deleting: set[str] = set()  # entry keys: a second click must not delete twice

    def _save(self, store: StoredPaths, paths: Sequence[str] | frozenset[str]) -> None:
        self._generation += 1
        (
            Op(store.save, frozenset(paths), self._generation)
            .failure(self._on_save_failed)
            .owned_by(self)
            .run_in(self._services.pools.io)
        )

    def _on_save_failed(self, exc: BaseException) -> None:
        self.notice.emit(f"Could not save the library settings: {describe_error(exc)}", True)

    # --- hide --------------------------------------------------------------------------------

    def set_hidden(self, row: LibraryRow, hidden: bool) -> None:
        """Hide another app's file from the list, or show it again. The file is not touched."""
        if row.entry.own:
            return
        if hidden:
            self.hidden = self.hidden | {str(row.entry.path)}
        else:
            self.hidden = self.hidden - {str(loc.path) for loc in row.entry.paths}
        self._save(self._hidden_store, self.hidden)
        self.hidden_changed.emit()

    # --- delete ------------------------------------------------------------------------------

    def confirm_and_delete(self, row: LibraryRow) -> None:
        """Ask, showing the space freed, then delete on the heavy pool."""
        if not row.entry.own or row.key in self._deleting:
            return
        others = sorted(
            {source_name(loc.source_kind) for loc in row.entry.paths} - {source_name("quantdesk")}
        )
        space = (
            f"The same file is also used by {', '.join(others)} and stays there, so no disk "
            "space is freed."
            if others
            else f"This frees {human_bytes(row.entry.size)} of disk space."
        )
        answer = QMessageBox.question(
            self._widget,
            "Delete model",
            f"Delete {row.display_name} from QuantDesk's models folder?\n\n{space}\n\n"
            f"{row.entry.path}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.notice.emit(f"Deleting {row.display_name}…", False)
        self._deleting.add(row.key)
        (
            Op(delete_model, row.entry, [self.models_root])
            .success(lambda result: self._on_deleted(row, result))
            .failure(lambda exc: self._on_delete_failed(row, exc))
            .owned_by(self)
            .run_in(self._services.pools.heavy)
        )

    def _on_deleted(self, row: LibraryRow, result: DeleteResult) -> None:
        self._deleting.discard(row.key)
        if result.links_only:
            text = f"Removed the link to {row.display_name}; the file it points to was kept."
        else:
            text = f"Deleted {row.display_name}; {human_bytes(result.freed)} freed."
        self.notice.emit(text, False)
        self.deleted.emit(row.key)

    def _on_delete_failed(self, row: LibraryRow, exc: BaseException) -> None:
        self._deleting.discard(row.key)
        self.notice.emit(f"Could not delete: {describe_error(exc)}", True)

    # --- adding ------------------------------------------------------------------------------

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._widget, "Add a folder of models", str(Path.home())
        )
        if not folder or folder in self._settings_folders():
            return
        self._services.settings.update(models_folders=(*self._settings_folders(), folder))

    def remove_folder(self, folder: str) -> None:
        """Stop reading a folder the user added (its files are not touched). QuantDesk's own
        folder and other apps' folders are not in that list, so they cannot be removed."""
        if Path(folder) not in {Path(f) for f in self.folders}:
            return
        stored = self._services.settings.settings.models_folders
        kept = tuple(f for f in stored if Path(f) != Path(folder))
        self._services.settings.update(models_folders=kept)

    @property
    def models_root(self) -> Path:
        """QuantDesk's own folder in effect (it follows Settings: ui/models_folder.py)."""
        return self._services.paths.models

    def _settings_folders(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self._services.settings.models_folders(self.models_root))

    def _on_settings_changed(self, _settings: object) -> None:
        folders = self._settings_folders()[1:]
        if folders != self.folders:
            self.folders = folders
            self.folders_changed.emit()

    def choose_and_import(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self._widget, "Import models", str(Path.home()), "GGUF models (*.gguf)"
        )
        if paths:
            self.import_paths(paths)

    def import_paths(self, paths: Sequence[str]) -> None:
        """Ask how (move, copy, hard or symbolic link), then import on the heavy pool."""
        mode = import_dialog.ask_import_mode(self._widget, paths, self.models_root)
        if mode is None:
            return
        self.notice.emit(f"Importing {_plural(len(paths), 'file')}…", False)
        (
            Op(_import_all, list(paths), self.models_root, mode)
            .success(self._on_imported)
            .owned_by(self)
            .run_in(self._services.pools.heavy)
        )

    def _on_imported(self, results: list[ImportResult]) -> None:
        done = sum(1 for _src, dest, _exc in results if dest is not None)
        failed = [(src, exc) for src, _dest, exc in results if exc is not None]
        text = f"Imported {_plural(done, 'file')}."
        for src, exc in failed:
            # describe_error names the file when the error carries one.
            where = "" if getattr(exc, "path", None) else f"{Path(src).name}: "
            text += f" {where}{describe_error(exc)}."
        self.notice.emit(text, bool(failed))
        self.imported.emit()
