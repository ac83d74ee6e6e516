"""Ollama's model store, read in place: manifests name models, blobs hold the GGUF data.

Layout (ollama ``manifest/paths.go``): ``<root>/manifests/<host>/<namespace>/<model>/<tag>`` is
JSON with ``layers[] {mediaType, digest, size}``; the layer of media type
``application/vnd.ollama.image.model`` is the GGUF file, stored as
``<root>/blobs/sha256-<64 hex>``. Manifests are untrusted input: CVE-2024-37032 ("Probllama")
used a digest of ``../../..`` to reach files outside the store, so a digest must be exactly
``sha256:`` plus 64 lowercase hex digits, and the blob, symlinks resolved, must stay inside
``blobs/``. Nothing here writes to the store.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from desktop_app.core.library.entries import Candidate, ScanProblem, SourceKind
from desktop_app.core.library.walk import Walker, is_inside

MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# Real manifests are a few hundred bytes; anything this big is not one and is not parsed.
_MAX_MANIFEST_BYTES = 1024 * 1024


def ollama_roots(home: Path, env: Mapping[str, str], system: str) -> tuple[Path, ...]:
    """``$OLLAMA_MODELS`` if set, else the per-user store and, on Linux, the service's store."""
    custom = env.get("OLLAMA_MODELS")
    if custom:
        return (Path(custom).expanduser(),)
    roots = [home / ".ollama" / "models"]
    if system == "Linux":
        # The Linux install script runs Ollama as its own "ollama" user with this home.
        roots.append(Path("/usr/share/ollama/.ollama/models"))
    return tuple(roots)


def display_name(host: str, namespace: str, model: str, tag: str) -> str:
    """The name ``ollama list`` shows: short for the default registry, full otherwise."""
    if host == DEFAULT_HOST:
        if namespace == DEFAULT_NAMESPACE:
            return f"{model}:{tag}"
        return f"{namespace}/{model}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def model_digest(manifest: object) -> str | None:
    """The digest of the manifest's model layer, unvalidated; None when it has none."""
    if not isinstance(manifest, dict):
        raise ValueError("manifest is not a JSON object")
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise ValueError("manifest has no layers list")
    for layer in layers:
        if isinstance(layer, dict) and layer.get("mediaType") == MODEL_MEDIA_TYPE:
            digest = layer.get("digest")
            if not isinstance(digest, str):
                raise ValueError("model layer has no digest")
            return digest
    return None


def blob_path(blobs: Path, digest: str) -> Path | None:
    """The blob file for ``digest``, or None when the digest is not strictly sha256 + 64 hex."""
    if _DIGEST_RE.fullmatch(digest) is None:
        return None
    return blobs / digest.replace(":", "-", 1)


@dataclass(frozen=True)
class OllamaSource:
    roots: tuple[Path, ...]
    kind: ClassVar[SourceKind] = "ollama"

    def candidates(
        self, problems: list[ScanProblem], cancel: threading.Event | None = None
    ) -> Iterator[Candidate]:
        for root in self.roots:
            yield from self._scan_root(root, problems, cancel)

    def _scan_root(
        self, root: Path, problems: list[ScanProblem], cancel: threading.Event | None
    ) -> Iterator[Candidate]:
        manifests, blobs = root / "manifests", root / "blobs"
        walker = Walker("ollama", problems, accept=lambda _name: True, max_depth=5, cancel=cancel)
        real_blobs: str | None = None
        for path, parts in walker.walk(manifests):
            if len(parts) != 4:
                continue  # not <host>/<namespace>/<model>/<tag>
            target = self._model_blob(path, blobs, problems)
            if target is None:
                continue
            if real_blobs is None:
                real_blobs = os.path.realpath(blobs)
            if not is_inside(os.path.realpath(target), real_blobs):
                # A blob symlinked out of the store: refuse, as for a traversing digest.
                problems.append(ScanProblem("unsafe_blob_path", str(path), "ollama", str(target)))
                continue
            if not target.is_file():
                problems.append(ScanProblem("missing_blob", str(path), "ollama", str(target)))
                continue
            host, namespace, model, tag = parts
            repo = f"{namespace}/{model}" if host != DEFAULT_HOST else None
            yield Candidate(
                path=target,
                source_kind="ollama",
                display_name=display_name(host, namespace, model, tag),
                # Tags carry the quant ("8b-instruct-q4_K_M", "Q4_K_M" for hf.co models).
                name=f"{model}-{tag}",
                repo=repo,
            )

    def _model_blob(self, manifest: Path, blobs: Path, problems: list[ScanProblem]) -> Path | None:
        try:
            with open(manifest, "rb") as f:
                raw = f.read(_MAX_MANIFEST_BYTES + 1)
        except FileNotFoundError:
            return None  # removed by `ollama rm` while we scanned
        except OSError as exc:
            code = "permission_denied" if isinstance(exc, PermissionError) else "io_error"
            problems.append(ScanProblem(code, str(manifest), "ollama", str(exc)))
            return None
        try:
            if len(raw) > _MAX_MANIFEST_BYTES:
                raise ValueError("manifest too large")
            digest = model_digest(json.loads(raw))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problems.append(ScanProblem("bad_manifest", str(manifest), "ollama", str(exc)))
            return None
        if digest is None:
            return None  # an embedding-only or adapter manifest: no model weights to list
        target = blob_path(blobs, digest)
        if target is None:
            problems.append(ScanProblem("bad_digest", str(manifest), "ollama", repr(digest[:100])))
        return target
