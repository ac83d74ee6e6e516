"""Output files of a quantize job: claim a temp name, move into place without clobbering (the
rename is made durable with ``atomic.fsync_folder``). Shared by ``quantize_job`` (and usable by
other jobs writing model files).
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.core.atomic import place_no_overwrite
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
    try:
        place_no_overwrite(tmp, destination)
    except FileExistsError as exc:
        raise DestinationError("destination_exists", path=destination) from exc
