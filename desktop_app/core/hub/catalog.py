"""The curated offline catalog: well-known GGUF repos, so Discover is useful with no network.

``resources/catalog.json`` lists repo ids with the model family, the parameter count where the
model's name states it, and the licence identifier where it is certain. Nothing else is
claimed: sizes, quants and fit come from the hub (or its cache) when the user opens a repo.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.names import validate_repo_id
from desktop_app.resources import resource_path

__all__ = ["CatalogEntry", "filter_catalog", "load_catalog"]

log = logging.getLogger(__name__)

_PARAMS = re.compile(r"(\d+(?:\.\d+)?)([MB])")
_SCALE = {"M": 10**6, "B": 10**9}


@dataclass(frozen=True)
class CatalogEntry:
    repo_id: str
    family: str
    params: str | None = None  # as the model name writes it: "0.5B", "360M"
    license: str | None = None

    @property
    def publisher(self) -> str:
        return self.repo_id.split("/")[0]

    @property
    def parameter_count(self) -> int | None:
        match = _PARAMS.fullmatch(self.params or "")
        if match is None:
            return None
        return int(float(match.group(1)) * _SCALE[match.group(2)])


def _entry(raw: Any) -> CatalogEntry | None:
    if not isinstance(raw, dict):
        return None
    repo_id, family = raw.get("repo_id"), raw.get("family")
    params, licence = raw.get("params"), raw.get("license")
    if not isinstance(family, str) or not family:
        return None
    try:
        validate_repo_id(repo_id)
    except HubError:
        return None
    assert isinstance(repo_id, str)
    return CatalogEntry(
        repo_id,
        family,
        params if isinstance(params, str) and _PARAMS.fullmatch(params) else None,
        licence if isinstance(licence, str) and licence else None,
    )


def load_catalog(path: Path | None = None) -> tuple[CatalogEntry, ...]:
    """The catalog's entries in file order; malformed entries are skipped (and logged)."""
    source = path if path is not None else resource_path("catalog.json")
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("catalog %s unreadable: %s", source, exc)
        return ()
    rows = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        log.warning("catalog %s has no model list", source)
        return ()
    entries = []
    for raw in rows:
        entry = _entry(raw)
        if entry is None:
            log.warning("catalog %s: skipped malformed entry %r", source, raw)
        else:
            entries.append(entry)
    return tuple(entries)


def filter_catalog(entries: tuple[CatalogEntry, ...], text: str) -> tuple[CatalogEntry, ...]:
    """Entries whose repo id or family contains every word of ``text`` (any case)."""
    words = text.lower().split()
    return tuple(e for e in entries if all(w in f"{e.repo_id} {e.family}".lower() for w in words))
