"""Output files of a quantize job: claim a temp name, move into place without clobbering, make
the rename durable. Shared by ``quantize_job`` (and usable by other jobs writing model files).
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.core.quantize_errors import DestinationError


def reserve_temp(tmp: Path) -> None:
    """Create the temp file exclusively: proves the folder is writable, claims the name."""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise DestinationError(
            "destination_not_writable", f"{type(exc).__name__}: {exc.strerror}", path=tmp.parent
        ) from exc
    os.close(fd)


def move_into_place(tmp: Path, destination: Path) -> None:
    """Rename without ever replacing a file that appeared at ``destination`` meanwhile."""
    if os.name == "nt":
        try:
            os.rename(tmp, destination)  # refuses to replace on Windows
        except FileExistsError as exc:
            raise DestinationError("destination_exists", path=destination) from exc
        return
    try:
        os.link(tmp, destination)  # atomic and never replaces
    except FileExistsError as exc:
        raise DestinationError("destination_exists", path=destination) from exc
    except OSError:
        # No hard links here (FAT, some network file systems): check, then rename.
        if destination.exists():
            raise DestinationError("destination_exists", path=destination) from None
        os.rename(tmp, destination)
        return
    tmp.unlink()


def fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; Windows has no directory handles for this)."""
    if os.name == "nt":
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
