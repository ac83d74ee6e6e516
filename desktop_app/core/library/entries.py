"""The library's data: what sources find, what the index returns (frozen, safe across threads)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from desktop_app.core.model_facts import ModelFacts
from desktop_app.core.provenance import Provenance

# Where a file was found. "quantdesk" is the only kind QuantDesk ever deletes from.
SourceKind = Literal["quantdesk", "hf_cache", "lmstudio", "ollama", "gpt4all", "folder"]


@dataclass(frozen=True)
class Candidate:
    """A file a source believes is a GGUF model; nothing has been read or stat'ed yet.

    ``name`` is what the file is called for quant-label and shard parsing: the file name, or
    for Ollama (whose blobs are named by hash) the model and tag. ``repo`` is "publisher/repo"
    when the layout says it; ``revision`` the Hugging Face commit for HF cache files.
    """

    path: Path
    source_kind: SourceKind
    display_name: str
    name: str
    repo: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class ScanProblem:
    """Something a scan skipped instead of failing: the UI lists these, nothing more.

    ``code`` is one of ``permission_denied``, ``symlink_loop``, ``broken_link``, ``vanished``,
    ``io_error``, ``not_a_folder``, ``not_a_file``, ``bad_manifest``, ``bad_digest``,
    ``unsafe_blob_path``, ``missing_blob``, ``hf_cache_corrupt``.
    """

    code: str
    path: str
    source_kind: SourceKind
    detail: str = ""


@dataclass(frozen=True)
class Location:
    """One path under which a model file can be reached."""

    path: Path
    source_kind: SourceKind
    display_name: str
    repo: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    """One physical model file (one (device, inode)), with every place it was found.

    Exactly one of ``facts`` and ``broken_reason`` is set. ``broken_reason`` is the
    ``GGUFProblem`` value (e.g. ``truncated``) or the ``FileAccessError`` code (e.g.
    ``permission_denied``) of the failed read. ``own`` means one location is inside one of
    QuantDesk's own models folders. ``provenance`` is how QuantDesk made the file, from the
    ``<file>.quantdesk.json`` sidecar beside one of its locations (None without one).
    """

    key: str
    paths: tuple[Location, ...]
    name: str
    size: int
    mtime_ns: int
    facts: ModelFacts | None
    broken_reason: str | None
    family_key: str
    quant_label: str
    own: bool
    provenance: Provenance | None = None

    @property
    def path(self) -> Path:
        """The preferred location: the first found, sources being scanned in priority order."""
        return self.paths[0].path

    @property
    def repo(self) -> str | None:
        return next((loc.repo for loc in self.paths if loc.repo), None)


@dataclass(frozen=True)
class ScanProgress:
    """Headers resolved so far; ``path`` is the file just done."""

    done: int
    total: int
    path: Path


@dataclass(frozen=True)
class ScanStats:
    files: int  # distinct physical files found
    from_cache: int  # facts (or a broken verdict) reused without reading the file
    read: int  # headers read this scan
    seconds: float


@dataclass(frozen=True)
class LibrarySnapshot:
    """The result of one scan. ``cancelled`` snapshots hold what was resolved before the stop."""

    entries: tuple[ModelEntry, ...]
    problems: tuple[ScanProblem, ...]
    cancelled: bool
    stats: ScanStats
