"""A repo's files as the Discover page shows them: quant variants, extras, refused names.

GGUF files are grouped by quantization label (``parse_quant_label``): the shards of a split
model (``-00001-of-00003``) become one variant with the summed size; ``mmproj`` files (vision
projectors) and importance-matrix files are extras, not models. A name that fails the
``names`` checks is listed as refused (escaped for display) and never offered for download.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.names import escape_for_display, validate_file_name
from desktop_app.core.quant_types import FileType, file_type_by_label, parse_quant_label

__all__ = [
    "CardInfo",
    "QuantVariant",
    "RejectedName",
    "RemoteExtra",
    "RemoteFile",
    "RepoListing",
    "group_files",
]

_IMATRIX_DATA = (".dat", ".imatrix")  # importance-matrix files in the older formats


@dataclass(frozen=True)
class RemoteFile:
    path: str  # inside the repo, "/"-separated, already validated
    size: int | None
    sha256: str | None  # the LFS sha256, lower-case hex


@dataclass(frozen=True)
class QuantVariant:
    """One downloadable model: a single GGUF file, or all shards of a split one."""

    label: str  # canonical label ("Q4_K_M") or "unknown"
    file_type: FileType | None
    files: tuple[RemoteFile, ...]  # shards in order
    stem: str  # the name without label and shard suffix: tells models of one repo apart
    folder: str  # sub-folder inside the repo ("" at the top)
    imatrix: bool  # the name says it was made with an importance matrix
    shard_count: int
    complete: bool  # every shard 1..N is present

    @property
    def key(self) -> str:
        return self.files[0].path

    @property
    def first(self) -> RemoteFile:
        return self.files[0]

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    @property
    def rank(self) -> int:
        return self.file_type.rank if self.file_type is not None else -1

    @property
    def bits_per_weight(self) -> float | None:
        return self.file_type.bits_per_weight if self.file_type is not None else None

    @property
    def note(self) -> str:
        return self.file_type.note if self.file_type is not None else ""


@dataclass(frozen=True)
class RemoteExtra:
    kind: str  # "mmproj" or "imatrix"
    file: RemoteFile


@dataclass(frozen=True)
class RejectedName:
    shown: str  # escaped: safe to display
    reason: str


@dataclass(frozen=True)
class CardInfo:
    """What the model card says, as plain text (never rendered as HTML or Markdown)."""

    summary: str = ""
    license: str | None = None
    base_models: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    pipeline_tag: str | None = None


@dataclass(frozen=True)
class RepoListing:
    repo_id: str
    revision: str | None  # the commit the listing describes; downloads pin to it
    variants: tuple[QuantVariant, ...]
    extras: tuple[RemoteExtra, ...]
    rejected: tuple[RejectedName, ...]
    card: CardInfo = field(default_factory=CardInfo)
    gated: bool = False
    downloads: int | None = None
    likes: int | None = None
    last_modified: str | None = None
    fetched_at: float = 0.0
    from_cache: bool = False
    offline: bool = False

    def variant(self, key: str) -> QuantVariant | None:
        """The variant with this first-file path, or whose label is ``key`` (any case)."""
        for v in self.variants:
            if v.key == key or any(f.path == key for f in v.files):
                return v
        wanted = file_type_by_label(key)
        matches = [v for v in self.variants if wanted is not None and v.file_type == wanted]
        return matches[0] if len(matches) == 1 else None

    def file(self, path: str) -> RemoteFile | None:
        for v in self.variants:
            for f in v.files:
                if f.path == path:
                    return f
        for extra in self.extras:
            if extra.file.path == path:
                return extra.file
        return None


def _extra_kind(base: str, has_label: bool) -> str | None:
    lower = base.lower()
    if "mmproj" in lower and lower.endswith(".gguf"):
        return "mmproj"
    if "imatrix" in lower and (
        lower.endswith(_IMATRIX_DATA) or (lower.endswith(".gguf") and not has_label)
    ):
        return "imatrix"
    return None


def group_files(
    files: Iterable[RemoteFile],
) -> tuple[tuple[QuantVariant, ...], tuple[RemoteExtra, ...], tuple[RejectedName, ...]]:
    """(variants best first, extras, refused names) of a repo's files."""
    groups: dict[tuple[str, str, str, bool, int], list[tuple[int, RemoteFile]]] = {}
    meta: dict[tuple[str, str, str, bool, int], tuple[str, str]] = {}
    extras: list[RemoteExtra] = []
    rejected: list[RejectedName] = []
    for f in files:
        try:
            validate_file_name(f.path, require_gguf=False)
        except HubError as exc:
            rejected.append(RejectedName(exc.name or escape_for_display(f.path), exc.detail))
            continue
        folder, base = posixpath.split(f.path)
        match = parse_quant_label(base)
        kind = _extra_kind(base, match is not None)
        if kind is not None:
            extras.append(RemoteExtra(kind, f))
            continue
        if not base.lower().endswith(".gguf"):
            continue
        if match is None:
            key = (folder, base.lower(), "unknown", False, 1)
            groups.setdefault(key, []).append((1, f))
            meta[key] = ("unknown", base[: -len(".gguf")])
            continue
        count = match.shard_count or 1
        key = (folder, match.stem.lower(), match.label, match.imatrix, count)
        groups.setdefault(key, []).append((match.shard_index or 1, f))
        meta[key] = (match.label, match.stem)
    variants = []
    for key, members in groups.items():
        folder, _stem_key, label, imatrix, count = key
        members.sort(key=lambda m: (m[0], m[1].path))
        indices = {i for i, _ in members}
        variants.append(
            QuantVariant(
                label=label,
                file_type=file_type_by_label(label) if label != "unknown" else None,
                files=tuple(f for _, f in members),
                stem=meta[key][1],
                folder=folder,
                imatrix=imatrix,
                shard_count=count,
                complete=indices == set(range(1, count + 1)) and len(members) == count,
            )
        )
    variants.sort(key=lambda v: (-v.rank, -(v.size or 0), v.key))
    return tuple(variants), tuple(extras), tuple(rejected)
