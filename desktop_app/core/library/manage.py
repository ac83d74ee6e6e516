"""Deleting and importing model files: QuantDesk only ever changes its own models folders.

Other apps' folders are read in place and never written: a library that deletes an LM Studio
or Hugging Face cache file behind its owner's back breaks that app. So ``delete_model`` first
resolves symlinks (in the folders and in the file itself) and refuses anything whose real
location is outside QuantDesk's roots, except that a link QuantDesk made in its own folder (an
import by symbolic link) is removed as a link, leaving its target alone. QuantDesk's own
sidecars of a model (``<file>.quantdesk.json``) go with it; nothing else beside it is touched.

``import_model`` brings a file in without ever overwriting one, through a temporary name and a
rename so no half-copied model is ever listed.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from desktop_app.core.atomic import fsync_folder, place_no_overwrite
from desktop_app.core.gguf_file import read_gguf_header
from desktop_app.core.library.entries import ModelEntry
from desktop_app.core.library.errors import LibraryError
from desktop_app.core.library.walk import is_inside
from desktop_app.core.provenance import SIDECAR_SUFFIX

log = logging.getLogger(__name__)

__all__ = ["OWN_SIDECAR_SUFFIXES", "DeleteResult", "ImportMode", "delete_model", "import_model"]

ImportMode = Literal["move", "copy", "hardlink", "symlink"]

# Files QuantDesk writes beside a model, named ``<model file name><suffix>``: they describe that
# one file and go with it. (A download's ``.part`` files are not here: they belong to a
# download, which may be running.)
OWN_SIDECAR_SUFFIXES: tuple[str, ...] = (SIDECAR_SUFFIX,)

_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in "123456789"
}
_MAX_NAME_BYTES = 255


def _real_roots(own_roots: Iterable[Path]) -> list[str]:
    return [os.path.realpath(r) for r in own_roots]


def _error_from(exc: OSError, path: str | Path) -> LibraryError:
    if isinstance(exc, FileNotFoundError):
        code = "not_found"
    elif isinstance(exc, FileExistsError):
        code = "exists"
    elif isinstance(exc, PermissionError):
        # On Windows also a model still mapped by a running llama.cpp.
        code = "permission_denied"
    elif exc.errno == errno.EXDEV:
        code = "cross_device"
    else:
        code = "io_error"
    return LibraryError(code, f"{type(exc).__name__}: {exc.strerror or exc}", path=path)


# --- delete --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteResult:
    """What ``delete_model`` did.

    ``kept`` lists the files that deleted symbolic links pointed to outside QuantDesk's
    folders: only the links went (an import by symbolic link), the files belong to whoever
    made them and were not touched.
    """

    freed: int  # bytes given back to the disk (0 while another name keeps the data)
    removed: tuple[Path, ...]  # every name removed: model files, links, QuantDesk's sidecars
    kept: tuple[Path, ...] = ()
    links_only: bool = False  # every location was such a link: no model data was deleted


@dataclass(frozen=True)
class _Target:
    located: str  # the path with its folders resolved (the name itself may be a link)
    real: str  # fully resolved
    link_only: bool  # a link to a file that is not QuantDesk's: remove the link alone


def _checked_target(path: Path, roots: list[str]) -> _Target:
    """Where ``path`` is and what may be removed, after the ownership checks."""
    absolute = os.path.abspath(path)
    # The folders resolved, not the name: a models subfolder that is a symlink into LM Studio's
    # folder must not make LM Studio's files look like QuantDesk's.
    located = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
    if not any(is_inside(located, r) for r in roots):
        raise LibraryError("not_own", "outside QuantDesk's models folders", path=path)
    if not os.path.lexists(located):
        raise LibraryError("not_found", path=path)
    real = os.path.realpath(located)
    if os.path.islink(located) and (
        not any(is_inside(real, r) for r in roots) or not os.path.exists(real)
    ):
        # The link is QuantDesk's (it sits in its folder); what it points to is not, or is
        # gone. Removing the link frees nothing and never touches the target.
        return _Target(located, real, link_only=True)
    if not any(is_inside(real, r) for r in roots):
        raise LibraryError("not_own", "outside QuantDesk's models folders", path=path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise _error_from(exc, path) from exc
    if not stat.S_ISREG(st.st_mode):
        raise LibraryError("not_a_file", path=path)
    return _Target(located, real, link_only=False)


def _unlink(path: str) -> int:
    """Remove one name of a file; the bytes freed (0 while other hard links keep the data)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0  # already gone: another location of the same file removed it
    freed = st.st_size if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1 else 0
    try:
        os.unlink(path)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise _error_from(exc, path) from exc
    return freed


def _remove_sidecars(model: str, removed: list[Path]) -> int:
    """Remove QuantDesk's own files beside ``model`` (by their exact names, never a folder);
    the bytes freed. The model is already gone, so a sidecar that cannot be removed is only
    logged: an orphan record is harmless."""
    freed = 0
    for suffix in OWN_SIDECAR_SUFFIXES:
        sidecar = model + suffix
        try:
            st = os.lstat(sidecar)
        except OSError:
            continue
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            continue
        try:
            freed += _unlink(sidecar)
        except LibraryError as exc:
            log.warning("could not remove %s: %s", sidecar, exc.detail)
            continue
        removed.append(Path(sidecar))
    return freed


def _prune_empty_folders(folder: str, roots: list[str]) -> None:
    """Remove the publisher/repo folders a deletion left empty, never a root itself."""
    while any(is_inside(folder, r) for r in roots):
        try:
            os.rmdir(folder)
        except OSError:
            return  # not empty (or not ours to remove): stop climbing
        folder = os.path.dirname(folder)


def delete_model(target: ModelEntry | Path | str, own_roots: Iterable[Path]) -> DeleteResult:
    """Delete a model file from QuantDesk's own folders, with its QuantDesk sidecars.

    For a ``ModelEntry`` every location inside the own roots is removed (other apps' locations
    of the same file are left alone, so freeing may be 0). A location that is a symbolic link
    to a file outside the own roots (an import by link) loses the link only. Raises
    ``LibraryError`` with code ``not_own`` when the path, or the file it resolves to, lies
    outside the own roots; all locations are checked before anything is deleted.
    """
    roots = _real_roots(own_roots)
    if isinstance(target, ModelEntry):
        paths = [loc.path for loc in target.paths if loc.source_kind == "quantdesk"]
        if not paths:
            raise LibraryError("not_own", "no location in QuantDesk's folders", path=target.path)
    else:
        paths = [Path(target)]
    checked = [_checked_target(p, roots) for p in paths]
    freed = 0
    removed: list[Path] = []
    kept: list[Path] = []
    for t in checked:
        if t.link_only:
            _unlink(t.located)
            removed.append(Path(t.located))
            kept.append(Path(t.real))
            freed += _remove_sidecars(t.located, removed)
            _prune_empty_folders(os.path.dirname(t.located), roots)
            continue
        names = [t.located, t.real] if t.located != t.real else [t.real]
        if t.located != t.real:
            _unlink(t.located)  # a link inside the roots to a file inside them: both go
        freed += _unlink(t.real)
        removed.extend(Path(n) for n in names)
        for name in names:
            freed += _remove_sidecars(name, removed)
        for folder in {os.path.dirname(n) for n in names}:
            _prune_empty_folders(folder, roots)
    links_only = all(t.link_only for t in checked)
    return DeleteResult(freed, tuple(removed), tuple(kept), links_only)


# --- import --------------------------------------------------------------------------------


def _safe_component(name: str, what: str) -> str:
    """``name`` if it can be one path component on every OS QuantDesk runs on."""
    name = unicodedata.normalize("NFC", name)
    stem = name.split(".")[0].upper().rstrip(" ")
    bad = (
        not name
        or name in (".", "..")
        or name.startswith(".")  # hidden: the library would never list it
        or name[-1] in ". "  # Windows silently strips these, so the name changes
        or any(c in name for c in '/\\:*?"<>|')
        or any(unicodedata.category(c) in ("Cc", "Cf") for c in name)  # controls, bidi marks
        or stem in _WINDOWS_DEVICES
        or len(name.encode("utf-8")) > _MAX_NAME_BYTES
    )
    if bad:
        raise LibraryError("bad_name", f"unusable {what} {name!r}")
    return name


def _place_no_overwrite(tmp: str, dest: str) -> None:
    """Give the finished temp file its final name, failing rather than replacing ``dest``."""
    try:
        place_no_overwrite(tmp, dest)
    except OSError as exc:
        raise _error_from(exc, dest) from exc  # FileExistsError: code "exists"


def _copy_in(src: str, dest: str) -> None:
    folder, name = os.path.split(dest)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.partial")
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _place_no_overwrite(tmp, dest)
        fsync_folder(folder)
    except OSError as exc:
        # The failing side (unreadable source, full target disk) is in exc.filename.
        raise _error_from(exc, exc.filename or dest) from exc
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _move_in(src: str, dest: str) -> None:
    try:
        os.link(src, dest)  # same file system: instant and never overwriting
    except FileExistsError as exc:
        raise LibraryError("exists", path=dest) from exc
    except OSError:
        _copy_in(src, dest)  # another disk, or no hard links: copy, then drop the original
    try:
        os.unlink(src)
    except OSError as exc:
        raise _error_from(exc, src) from exc


def import_model(
    src: Path | str,
    own_root: Path,
    mode: ImportMode,
    *,
    publisher: str | None = None,
    name: str | None = None,
    validate: bool = True,
) -> Path:
    """Bring ``src`` into ``own_root/<publisher or "imported">/<name or src's name>``.

    ``copy`` and ``move`` go through a temporary file and a rename; ``hardlink`` shares the
    data (same file system only); ``symlink`` points at the original. Never overwrites
    (code ``exists``). ``validate`` checks the GGUF header first so a broken or foreign file
    is not copied in (raises ``GGUFError``).
    """
    src_path = Path(src)
    try:
        link_st = os.lstat(src_path)
    except OSError as exc:
        raise _error_from(exc, src_path) from exc
    if mode == "move" and stat.S_ISLNK(link_st.st_mode):
        # Moving a link moves no data; moving its target would break the app that owns it.
        raise LibraryError("is_symlink", path=src_path)
    real = os.path.realpath(src_path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise _error_from(exc, src_path) from exc
    if not stat.S_ISREG(st.st_mode):
        raise LibraryError("not_a_file", path=src_path)
    file_name = _safe_component(name or src_path.name, "file name")
    if not file_name.lower().endswith(".gguf"):
        raise LibraryError("bad_name", f"not a .gguf name: {file_name!r}")
    folder_name = _safe_component(publisher or "imported", "publisher")
    if validate:
        read_gguf_header(real)

    folder = own_root / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    if not is_inside(os.path.realpath(folder), os.path.realpath(own_root)):
        raise LibraryError("not_own", "publisher folder leads outside the models folder")
    dest = str(folder / file_name)
    if os.path.lexists(dest):
        raise LibraryError("exists", path=dest)
    try:
        if mode == "copy":
            _copy_in(real, dest)
        elif mode == "move":
            _move_in(str(src_path), dest)
        elif mode == "hardlink":
            os.link(real, dest)
        elif mode == "symlink":
            os.symlink(real, dest)
        else:
            raise ValueError(f"unknown import mode {mode!r}")
    except LibraryError:
        raise
    except OSError as exc:
        error = _error_from(exc, dest)
        if mode == "symlink" and error.code in ("permission_denied", "io_error"):
            error = LibraryError("unsupported", error.detail, path=dest)  # Windows privilege
        raise error from exc
    return Path(dest)
