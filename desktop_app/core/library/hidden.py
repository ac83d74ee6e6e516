"""Small sets of paths the library remembers: files the user hid, folders the user added.

Each set is one JSON file in the config folder, ``{"format": 1, "paths": [...]}``, replaced
atomically (temporary file, fsync, rename) so a crash leaves the old list or the new one, never
half of either. Saves carry a generation number: the GUI hands every change to a thread pool,
and a save that arrives after a newer one (a hide and an unhide in quick succession, run on two
threads) is dropped instead of undoing the newer change.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from desktop_app.core.atomic import atomic_write_json

__all__ = ["FOLDERS_FILE_NAME", "HIDDEN_FILE_NAME", "StoredPaths"]

log = logging.getLogger(__name__)

HIDDEN_FILE_NAME = "library-hidden.json"
FOLDERS_FILE_NAME = "library-folders.json"
_FORMAT = 1


class StoredPaths:
    """A set of path strings kept in ``file``. ``load`` and ``save`` are thread-safe."""

    def __init__(self, file: Path) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._written = -1

    @property
    def file(self) -> Path:
        return self._file

    def load(self) -> frozenset[str]:
        """The stored paths; a missing or damaged file reads as none (it is only a preference)."""
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return frozenset()
        except (OSError, ValueError):
            log.info("%s is unreadable; starting with an empty list", self._file)
            return frozenset()
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return frozenset()
        paths = data.get("paths")
        if not isinstance(paths, list):
            return frozenset()
        return frozenset(p for p in paths if isinstance(p, str) and p)

    def save(self, paths: Iterable[str], generation: int) -> bool:
        """Write ``paths`` unless a save of a later ``generation`` already happened.

        Returns whether the file was written. Raises ``OSError`` when the disk refuses.
        """
        items = sorted(set(paths))
        with self._lock:
            if generation <= self._written:
                return False
            self._file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self._file, {"format": _FORMAT, "paths": items}, indent=1, mode=0o600)
            self._written = generation
            return True
