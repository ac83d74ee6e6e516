"""Walking model folders safely: symlink loops, unreadable folders and vanishing files.

Model folders belong to users and to other apps, so the walk must survive anything a folder
can hold: symlinks that point back at an ancestor, folders that deny listing, files deleted
while the walk runs, half-downloaded files. It never fails; whatever it skips is recorded as a
``ScanProblem`` for the UI to show.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.library.entries import ScanProblem, SourceKind

# Suffixes download tools give a file until it is complete: browsers (.part, .crdownload),
# huggingface_hub (.incomplete), LM Studio and others (.partial, .download).
_PARTIAL_SUFFIXES = (".part", ".partial", ".incomplete", ".download", ".crdownload", ".tmp")


def is_partial_name(name: str) -> bool:
    """A download in progress (or abandoned): never a usable model, however it is named."""
    lower = name.lower()
    # GPT4All downloads to "incomplete-<file name>" and renames when done.
    return lower.startswith("incomplete-") or lower.endswith(_PARTIAL_SUFFIXES)


def is_model_file_name(name: str) -> bool:
    """A finished GGUF file by its name: ``.gguf`` in any case, not partial, not hidden.

    Hidden names are skipped because tools (QuantDesk's own import among them) write their
    temporary files as dot-files before renaming them into place.
    """
    return name.lower().endswith(".gguf") and not name.startswith(".") and not is_partial_name(name)


@dataclass
class Walker:
    """Depth-first walk of one folder tree yielding files whose name ``accept`` admits.

    Symlinks are followed, to files and to folders alike (users link models in from other
    disks), but a folder is entered only once per walk, identified by (st_dev, st_ino): a link
    back to an ancestor is a loop and is recorded, a second link to an already walked folder
    is skipped silently (its files were already found). Hidden folders (".cache", ".locks",
    ".git") hold metadata, not models, and are not entered.
    """

    source_kind: SourceKind
    problems: list[ScanProblem]
    accept: Callable[[str], bool] = is_model_file_name
    max_depth: int = 8
    cancel: threading.Event | None = None
    _visited: set[tuple[int, int]] = field(default_factory=set, init=False, repr=False)

    def walk(self, root: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
        """Yield (path, parts relative to root) of each accepted file.

        A missing root yields nothing and records nothing: most machines have no LM Studio or
        Ollama folder, and that is not a problem.
        """
        try:
            st = os.stat(root)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._problem(_code_of(exc), root, exc)
            return
        if not stat.S_ISDIR(st.st_mode):
            self._problem("not_a_folder", root, None)
            return
        ident = (st.st_dev, st.st_ino)
        self._visited.add(ident)
        yield from self._walk(root, (), frozenset({ident}))

    def _walk(
        self, folder: Path, rel: tuple[str, ...], ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[tuple[Path, tuple[str, ...]]]:
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            # A folder deleted between being listed and being opened is no problem to report.
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):
                self._problem(_code_of(exc), folder, exc)
            return
        for entry in entries:
            if self.cancel is not None and self.cancel.is_set():
                return
            name = entry.name
            path = folder / name
            try:
                is_dir = entry.is_dir()  # follows symlinks; d_type makes it free for plain dirs
            except OSError:
                continue
            if is_dir:
                if name.startswith(".") or len(rel) + 1 >= self.max_depth:
                    continue
                yield from self._enter(path, rel + (name,), ancestors)
            elif self.accept(name):
                try:
                    is_file = entry.is_file()
                    is_link = entry.is_symlink()
                except OSError:
                    continue
                if is_file:
                    yield path, rel + (name,)
                elif is_link:
                    self._problem("broken_link", path, None)

    def _enter(
        self, path: Path, rel: tuple[str, ...], ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[tuple[Path, tuple[str, ...]]]:
        try:
            # os.stat, not DirEntry.stat: on Windows the latter reports st_ino 0 for every entry.
            st = os.stat(path)
        except OSError:
            return  # vanished since the listing, or a link whose target went away
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            self._problem("symlink_loop", path, None)
            return
        if ident in self._visited:
            return
        self._visited.add(ident)
        yield from self._walk(path, rel, ancestors | {ident})

    def _problem(self, code: str, path: Path, exc: OSError | None) -> None:
        detail = f"{type(exc).__name__}: {exc.strerror or exc}" if exc is not None else ""
        self.problems.append(ScanProblem(code, str(path), self.source_kind, detail))


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` is strictly below ``folder`` (both absolute and already resolved)."""
    try:
        return path != folder and os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives on Windows
        return False


def _code_of(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, FileNotFoundError):
        return "vanished"
    return "io_error"
