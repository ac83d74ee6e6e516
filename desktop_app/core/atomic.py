"""Writing files so that a crash leaves the old version or the new one, never half of either.

A small file (a setting, a record, a cache entry) is written whole to a temporary file in the
same folder (a rename is atomic only within one file system), flushed and fsynced, renamed over
the target, and then the folder is fsynced: the rename is atomic at once but only durable once
the folder entry is on disk. Any failure, Ctrl-C included, removes the temporary file and leaves
the target as it was.

Model files are far too large for one call; their writers stream into their own temporary file
and then use ``place_no_overwrite`` and ``fsync_folder`` from here.

Errors are plain ``OSError``: each caller turns them into its own typed error, and
``is_disk_full`` tells a full disk (or quota, or file size limit) from other failures.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_folder",
    "is_disk_full",
    "place_no_overwrite",
]

StrPath = str | os.PathLike[str]

_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG})
# What link() says on a file system without hard links; any other error is a real one.
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
)
# Enough of the target's name to recognise a leftover temp file, short enough that the temp
# name stays under the 255-byte limit even for a long name in a multi-byte script.
_NAME_CHARS_IN_TEMP = 40


def is_disk_full(exc: OSError) -> bool:
    """True when ``exc`` means no space: a full disk, an exhausted quota, a file size limit."""
    return exc.errno in _DISK_FULL


def fsync_folder(folder: StrPath) -> None:
    """Make renames and new names in ``folder`` durable. Best effort: Windows cannot open a
    folder for this, and some file systems refuse; the rename itself has happened anyway."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(path: Path, mode: int) -> tuple[int, Path]:
    """An exclusively created, empty temp file beside ``path`` (hidden, so no scan lists it)."""
    stem = path.name[:_NAME_CHARS_IN_TEMP]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _attempt in range(100):
        tmp = path.with_name(f".{stem}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def atomic_write_bytes(
    path: StrPath, data: bytes, *, durable: bool = True, mode: int = 0o666
) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``durable=False`` skips both fsyncs (for caches: still atomic, but a power loss may lose the
    new version). ``mode`` is the new file's permission before the umask, as for ``os.open``
    (0o600 keeps a file private). The folder must exist.
    """
    target = Path(path)
    fd, tmp = _create_temp(target, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_folder(target.parent)


def atomic_write_text(
    path: StrPath, text: str, *, encoding: str = "utf-8", durable: bool = True, mode: int = 0o666
) -> None:
    """``atomic_write_bytes`` of ``text`` encoded (an unencodable text creates no file at all)."""
    atomic_write_bytes(path, text.encode(encoding), durable=durable, mode=mode)


def atomic_write_json(
    path: StrPath,
    data: Any,
    *,
    indent: int | None = None,
    durable: bool = True,
    mode: int = 0o666,
) -> None:
    """``data`` as UTF-8 JSON (non-ASCII kept as is) ending in a newline, written atomically.

    Raises ``TypeError``/``ValueError`` for data JSON cannot hold, before anything is written.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent) + "\n"
    atomic_write_text(path, text, durable=durable, mode=mode)


def place_no_overwrite(tmp: StrPath, dest: StrPath) -> None:
    """Give the finished file ``tmp`` the name ``dest``, never replacing an existing file.

    Raises ``FileExistsError`` when ``dest`` exists (``tmp`` is then left for the caller to
    remove) and ``OSError`` for anything else. Does not fsync the folder.
    """
    if os.name == "nt":
        os.rename(tmp, dest)  # Windows' rename refuses an existing target by itself
        return
    try:
        # link() fails with EEXIST if dest exists or appears meanwhile: atomic and never
        # replacing, which a check followed by rename() is not on POSIX.
        os.link(tmp, dest)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise  # FileExistsError included
        # No hard links here (FAT, exFAT, some network shares): check, then rename; the
        # window between the two is tiny.
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "File exists", str(dest)) from None
        os.rename(tmp, dest)
        return
    os.unlink(tmp)
