"""Finished comparisons kept on disk, keyed by everything that decides their outcome.

The key covers every file's identity (path, size, modification time), which one is the
reference, the whole conversation (every earlier turn, not only the latest question) or the
text, the sampler, the context length and top-k. A file that changes gets a new key, so a stale
entry is never shown. Entries are JSON (``serialize.py``), written
atomically; a damaged entry is ignored and overwritten by the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from desktop_app.core.atomic import atomic_write_text
from desktop_app.core.compare.results import CompareResult, CompareSpec, RunPlan
from desktop_app.core.compare.serialize import variant_from_json, variant_to_json

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def _identity(path: str) -> list[Any]:
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [os.path.realpath(path), st.st_size, st.st_mtime_ns]


def cache_key(spec: CompareSpec, plan: RunPlan) -> str:
    material = {
        "v": CACHE_VERSION,
        "files": [_identity(p) for p in spec.variants],
        "reference": plan.reference,
        "messages": None if spec.messages is None else [[m.role, m.content] for m in spec.messages],
        "text": spec.text,
        "sampling": spec.sampling.__dict__,
        "n_ctx": spec.n_ctx,
        "top_k": spec.top_k,
        "max_chunks": spec.max_chunks,
    }
    blob = json.dumps(material, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()


class ResultCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def lookup(self, spec: CompareSpec, plan: RunPlan) -> CompareResult | None:
        path = self._path(cache_key(spec, plan))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            variants = tuple(variant_from_json(v) for v in data["variants"])
            if len(variants) != len(spec.variants):
                return None
            return CompareResult(
                spec=spec,
                plan=plan,
                variants=variants,
                scored_tokens=tuple(int(t) for t in data["scored_tokens"]),
                scored_texts=tuple(str(t) for t in data["scored_texts"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("ignoring a damaged compare cache entry %s: %s", path.name, exc)
            return None

    def store(self, result: CompareResult) -> None:
        key = cache_key(result.spec, result.plan)
        data = {
            "variants": [variant_to_json(v) for v in result.variants],
            "scored_tokens": list(result.scored_tokens),
            "scored_texts": list(result.scored_texts),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self._path(key), json.dumps(data))
        except OSError as exc:  # a cache that cannot be written only costs a re-run
            log.warning("could not save the comparison to the cache: %s", exc)
