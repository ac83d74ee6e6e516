"""Recently opened model files, newest first, kept in a small JSON file (atomic writes)."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_app.core.atomic import atomic_write_json

MAX_RECENT = 10


class RecentFiles:
    def __init__(self, path: Path) -> None:
        self._path = path

    def load(self) -> list[str]:
        """Never raises: a missing or damaged file means no recent files."""
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [p for p in data if isinstance(p, str)][:MAX_RECENT]

    def add(self, model_path: str) -> list[str]:
        items = [model_path, *(p for p in self.load() if p != model_path)][:MAX_RECENT]
        self._path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self._path, items, indent=1, mode=0o600)
        return items
