"""The app's log file: rotating, in the user's log folder, with tokens scrubbed.

``install_file_log`` is called once by the GUI's start-up (never at import, so tests and the
command line write no log file unless they ask). ``tail`` reads the last lines back for the
diagnostics report without reading a whole file into memory.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from desktop_app.core.hf_token import SecretFilter

__all__ = ["LOG_BACKUPS", "LOG_FILE_NAME", "LOG_MAX_BYTES", "install_file_log", "tail"]

LOG_FILE_NAME = "quantdesk.log"
LOG_MAX_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(process)d %(threadName)s %(name)s: %(message)s"


def install_file_log(
    folder: Path,
    level: int = logging.INFO,
    *,
    max_bytes: int = LOG_MAX_BYTES,
    backups: int = LOG_BACKUPS,
) -> logging.handlers.RotatingFileHandler:
    """Add a rotating file handler to the root logger; returns it (remove it to undo).

    The root logger's level is lowered to ``level`` if it is higher, so INFO records reach the
    file while other handlers keep their own levels. Raises ``OSError`` if the folder cannot be
    created or the file opened.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        folder / LOG_FILE_NAME, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_FORMAT))
    SecretFilter.remember_active()
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    previous = root.level
    if previous == logging.NOTSET or previous > level:
        # Handlers already there (stderr, from the command line's basicConfig) keep showing
        # only what they showed before.
        for other in root.handlers:
            if other.level == logging.NOTSET:
                other.setLevel(previous or logging.WARNING)
        root.setLevel(level)
    root.addHandler(handler)
    return handler


def tail(file: Path, lines: int = 200, max_bytes: int = 256 * 1024) -> list[str]:
    """The last ``lines`` lines of ``file`` (at most ``max_bytes`` read); [] if it is missing."""
    try:
        with open(file, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    rows = text.splitlines()
    if start > 0 and rows:
        rows = rows[1:]  # the first line was cut by the read window
    return rows[-lines:] if lines > 0 else []
