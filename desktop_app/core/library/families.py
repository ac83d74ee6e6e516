"""Variants of one model grouped into a family: Q8_0, Q4_K_M, Q2_K... of the same weights.

A family is identified by what the header says the model is (``general.basename`` plus
``general.size_label``, else ``general.name``), falling back to the file name without its quant
label, and qualified by the repo folder (publisher/repo) when the layout gives one: two repos
rarely hold the same weights quantized the same way, and a repo's files nearly always are one
model. A split model ("-00001-of-00003") is one variant: its size is the sum of its parts and
only part 1 is ever loaded (llama.cpp finds the others from it).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.library.entries import ModelEntry
from desktop_app.core.model_facts import ModelFacts
from desktop_app.core.quant_types import FileType, file_type_by_label, parse_quant_label

__all__ = [
    "FamilyInput",
    "ModelFamily",
    "Variant",
    "family_keys",
    "group_families",
    "quant_label_for",
    "shard_info",
]

# llama.cpp writes "<prefix>-00001-of-00003.gguf"; other tools vary padding and separator.
_SHARD_RE = re.compile(r"^(?P<base>.+?)[-_. ](?P<index>\d{1,5})-of-(?P<count>\d{1,5})(?:\.gguf)?$")
_NON_WORD = re.compile(r"[\W_]+")
_GGUF_SUFFIX = re.compile(r"\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class FamilyInput:
    """What a family key is computed from (the index builds these before the entries)."""

    facts: ModelFacts | None
    name: str
    repo: str | None
    folder: Path


@dataclass(frozen=True)
class Variant:
    """One loadable model: a file, or all parts of a split model.

    ``path`` is what to load (part 1 of a split). ``broken_reason`` is the first broken part's
    reason, or ``missing_shards`` when parts are absent. ``bits_per_weight`` is measured from
    the header (None when it could not be read).
    """

    quant_label: str
    file_type: FileType | None
    bits_per_weight: float | None
    size: int
    path: Path
    entries: tuple[ModelEntry, ...]
    shard_count: int
    missing_shards: tuple[int, ...]
    broken_reason: str | None

    @property
    def own(self) -> bool:
        return any(e.own for e in self.entries)


@dataclass(frozen=True)
class ModelFamily:
    key: str
    name: str
    repo: str | None
    variants: tuple[Variant, ...]  # best quality first

    @property
    def size(self) -> int:
        return sum(v.size for v in self.variants)


def shard_info(name: str) -> tuple[str, int, int] | None:
    """(name without the shard suffix, part, parts) for "x-00002-of-00003.gguf", else None."""
    m = _SHARD_RE.match(name)
    if m is None:
        return None
    index, count = int(m.group("index")), int(m.group("count"))
    if not 1 <= index <= count:
        return None
    return m.group("base"), index, count


def _normalise(text: str) -> str:
    # NFKC folds full-width and compatibility forms so "Ｑｗｅｎ" and "Qwen" meet; casefold is
    # the Unicode-aware lower(). Every run of punctuation and spaces becomes one "-".
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub("-", text).strip("-")


def _without_quant(text: str) -> str:
    match = parse_quant_label(text)
    return match.stem if match is not None and match.stem else text


def _model_name(facts: ModelFacts | None, name: str) -> str:
    if facts is not None and facts.basename:
        base = facts.basename
        size = facts.size_label
        # Without the size label, Qwen2.5 0.5B and 72B would be one family.
        if size and _normalise(size) not in _normalise(base):
            base = f"{base} {size}"
        return _without_quant(base)
    if facts is not None and facts.name:
        return _without_quant(facts.name)
    stem = _GGUF_SUFFIX.sub("", name)
    shard = shard_info(stem)
    return _without_quant(shard[0] if shard is not None else stem)


def _is_projector(facts: ModelFacts | None, name: str) -> bool:
    # Vision projectors ship in the same repos as the models they serve but are no variant.
    return (facts is not None and facts.architecture == "clip") or name.lower().startswith("mmproj")


def _key(item: FamilyInput) -> str:
    model = _normalise(_model_name(item.facts, item.name)) or _normalise(item.name)
    if _is_projector(item.facts, item.name):
        model += "/mmproj"
    if not item.repo:
        return model
    repo = "/".join(_normalise(part) for part in item.repo.split("/"))
    return f"{repo}:{model}"


def _shard_group(folder: Path, name: str) -> tuple[Path, str, int] | None:
    shard = shard_info(name)
    return (folder, shard[0].casefold(), shard[2]) if shard is not None else None


def family_keys(items: Sequence[FamilyInput]) -> list[str]:
    """The family key of each item; later parts of a split model take part 1's key, since
    llama.cpp's gguf-split writes the model's metadata into part 1 only."""
    keys = [_key(item) for item in items]
    first_parts: dict[tuple[Path, str, int], str] = {}
    for item, key in zip(items, keys, strict=True):
        shard = shard_info(item.name)
        group = _shard_group(item.folder, item.name)
        if shard is not None and group is not None and shard[1] == 1:
            first_parts[group] = key
    for i, item in enumerate(items):
        group = _shard_group(item.folder, item.name)
        if group is not None and group in first_parts:
            keys[i] = first_parts[group]
    # A broken file has no header to name its model. In a repo folder holding one model, it
    # is a (failed) variant of that model: a truncated download should show up beside its
    # siblings, not as a family of its own.
    repo_keys: dict[str, set[str]] = defaultdict(set)
    for item, key in zip(items, keys, strict=True):
        if item.repo and item.facts is not None and not _is_projector(item.facts, item.name):
            repo_keys[item.repo].add(key)
    for i, item in enumerate(items):
        if (
            item.facts is None
            and item.repo
            and len(repo_keys[item.repo]) == 1
            and not _is_projector(None, item.name)
        ):
            keys[i] = next(iter(repo_keys[item.repo]))
    return keys


def quant_label_for(facts: ModelFacts | None, name: str) -> str:
    """The header's file type when it records one, else the file name's label, else the type
    inferred from tensor sizes, else "unknown"."""
    if facts is not None and facts.file_type is not None and not facts.file_type_guessed:
        return facts.file_type.label
    match = parse_quant_label(name)
    if match is not None:
        return match.label
    if facts is not None and facts.file_type is not None:
        return facts.file_type.label
    return "unknown"


def _variant(parts: list[ModelEntry], shard_count: int) -> Variant:
    def index_of(entry: ModelEntry) -> int:
        shard = shard_info(entry.name)
        return shard[1] if shard is not None else 1

    parts = sorted(parts, key=index_of)
    load = parts[0]
    present = {index_of(e) for e in parts}
    missing = tuple(i for i in range(1, shard_count + 1) if i not in present)
    broken = next((e.broken_reason for e in parts if e.broken_reason), None)
    if broken is None and missing:
        broken = "missing_shards"
    facts = load.facts
    file_type = facts.file_type if facts is not None and facts.file_type else None
    if file_type is None or file_type.label != load.quant_label:
        file_type = file_type_by_label(load.quant_label)
    return Variant(
        quant_label=load.quant_label,
        file_type=file_type,
        bits_per_weight=facts.bits_per_weight if facts is not None else None,
        size=sum(e.size for e in parts),
        path=load.path,
        entries=tuple(parts),
        shard_count=shard_count,
        missing_shards=missing,
        broken_reason=broken,
    )


def _family_name(variant: Variant) -> str:
    load = variant.entries[0]
    return _model_name(load.facts, load.name)


def group_families(entries: Iterable[ModelEntry]) -> tuple[ModelFamily, ...]:
    """Families sorted by name, each with its variants best quality first."""
    by_key: dict[str, list[ModelEntry]] = defaultdict(list)
    for entry in entries:
        by_key[entry.family_key].append(entry)
    families = []
    for key, members in by_key.items():
        shards: dict[tuple[Path, str, int], list[ModelEntry]] = defaultdict(list)
        variants = []
        for entry in members:
            group = _shard_group(entry.path.parent, entry.name)
            if group is None:
                variants.append(_variant([entry], 1))
            else:
                shards[group].append(entry)
        variants.extend(_variant(parts, group[2]) for group, parts in shards.items())
        variants.sort(
            key=lambda v: (-(v.file_type.rank if v.file_type else -1), -v.size, str(v.path))
        )
        families.append(
            ModelFamily(
                key=key,
                name=_family_name(variants[0]),
                repo=next((e.repo for e in members if e.repo), None),
                variants=tuple(variants),
            )
        )
    families.sort(key=lambda f: (f.name.casefold(), f.key))
    return tuple(families)
