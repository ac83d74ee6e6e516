"""A small on-disk JSON cache for hub answers: search results, repo listings, header facts.

One file per entry under ``<app cache>/hub/<kind>/``, named by a hash of its key, holding the
data and when it was saved. Writes are atomic (temp file, then rename). The cache is a
convenience: a damaged or unreadable entry reads as a miss, and a failed write is logged and
forgotten, never raised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.atomic import atomic_write_json

__all__ = ["CacheEntry", "JsonCache"]

log = logging.getLogger(__name__)

SCHEMA = 1
_MAX_ENTRY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CacheEntry:
    data: Any
    saved_at: float  # time.time() when it was written

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.saved_at


class JsonCache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, kind: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return self.folder / kind / f"{digest}.json"

    def get(self, kind: str, key: str) -> CacheEntry | None:
        path = self._path(kind, key)
        try:
            with open(path, "rb") as fh:
                raw = fh.read(_MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        if len(raw) > _MAX_ENTRY_BYTES:
            return None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("key") != key:
            return None
        saved = doc.get("saved_at")
        if not isinstance(saved, int | float) or isinstance(saved, bool):
            return None
        return CacheEntry(doc.get("data"), float(saved))

    def put(self, kind: str, key: str, data: Any) -> None:
        path = self._path(kind, key)
        doc = {"schema": SCHEMA, "key": key, "saved_at": time.time(), "data": data}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A cache entry lost to a power cut is only a miss: no fsync.
            atomic_write_json(path, doc, durable=False, mode=0o600)
        except (OSError, TypeError, ValueError) as exc:
            log.info("hub cache: could not write %s: %s", path, exc)
