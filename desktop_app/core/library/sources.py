"""Where GGUF models live on this machine, and how to list each place without changing it.

A source yields ``Candidate`` files; the index stats, deduplicates and reads them. Every source
except QuantDesk's own is read-only: LM Studio, Ollama, GPT4All and the Hugging Face cache are
other programs' data, and the library must show them in place rather than copy or touch them.

Layouts (see shared/reference/competitors.md section 4):

* QuantDesk and LM Studio: ``<root>/<publisher>/<repo>/<file>.gguf``, mirroring the HF repo.
* Hugging Face cache: ``models--<org>--<name>/snapshots/<commit>/<file>`` symlinked to blobs,
  read through huggingface_hub's own ``scan_cache_dir`` so format changes stay its problem.
* Ollama: manifests and hash-named blobs (``ollama.py``).
* GPT4All: one flat folder, downloads in progress named ``incomplete-<file>``.
* Folders the user adds: any layout.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from desktop_app.core.library.entries import Candidate, ScanProblem, SourceKind
from desktop_app.core.library.ollama import OllamaSource, ollama_roots
from desktop_app.core.library.walk import Walker, is_model_file_name

__all__ = [
    "HFCacheSource",
    "ModelSource",
    "OllamaSource",
    "TreeSource",
    "default_sources",
    "folder_source",
    "gpt4all_folder",
    "gpt4all_source",
    "lmstudio_roots",
    "lmstudio_source",
    "own_models_source",
]

Layout = Literal["publisher_repo", "flat", "any"]

# Deep enough for publisher/repo/<quant subfolder>/<shard>, as large split models are published.
_REPO_DEPTH = 5
_ANY_DEPTH = 8


class ModelSource(Protocol):
    """A place models live. ``candidates`` never raises for what it finds on disk: it records
    unreadable folders, loops and bad metadata in ``problems`` and goes on."""

    @property
    def kind(self) -> SourceKind: ...

    def candidates(
        self, problems: list[ScanProblem], cancel: threading.Event | None = None
    ) -> Iterator[Candidate]: ...


@dataclass(frozen=True)
class TreeSource:
    """Folders of plain GGUF files: QuantDesk's own, LM Studio's, GPT4All's, the user's."""

    kind: SourceKind
    roots: tuple[Path, ...]
    layout: Layout = "any"

    def candidates(
        self, problems: list[ScanProblem], cancel: threading.Event | None = None
    ) -> Iterator[Candidate]:
        depth = {"publisher_repo": _REPO_DEPTH, "flat": 1, "any": _ANY_DEPTH}[self.layout]
        for root in self.roots:
            walker = Walker(self.kind, problems, max_depth=depth, cancel=cancel)
            for path, parts in walker.walk(root):
                repo = None
                if self.layout == "publisher_repo" and len(parts) >= 3:
                    repo = f"{parts[0]}/{parts[1]}"
                yield Candidate(
                    path=path,
                    source_kind=self.kind,
                    display_name="/".join(parts),
                    name=parts[-1],
                    repo=repo,
                )


@dataclass(frozen=True)
class HFCacheSource:
    """GGUF files in the Hugging Face hub cache; ``cache_dir`` None means huggingface_hub's
    own choice (``HF_HUB_CACHE``, else ``HF_HOME``/hub, else ~/.cache/huggingface/hub)."""

    cache_dir: Path | None = None
    kind: SourceKind = "hf_cache"

    def candidates(
        self, problems: list[ScanProblem], cancel: threading.Event | None = None
    ) -> Iterator[Candidate]:
        # Imported here: huggingface_hub takes a noticeable time to import and most commands
        # never scan the library.
        from huggingface_hub import constants, scan_cache_dir

        cache = Path(self.cache_dir if self.cache_dir is not None else constants.HF_HUB_CACHE)
        if not cache.is_dir():
            return  # no cache yet: nothing downloaded, nothing to report
        try:
            info = scan_cache_dir(cache)
        except (OSError, ValueError) as exc:
            # CacheNotFound (raced with a deletion) and unreadable folders end here.
            problems.append(ScanProblem("io_error", str(cache), "hf_cache", str(exc)))
            return
        for warning in info.warnings:
            # One repo whose snapshot points at a missing blob; the others still scan.
            problems.append(ScanProblem("hf_cache_corrupt", str(cache), "hf_cache", str(warning)))
        for repo in sorted(info.repos, key=lambda r: r.repo_id):
            if repo.repo_type != "model":
                continue
            if cancel is not None and cancel.is_set():
                return
            for revision in sorted(repo.revisions, key=lambda r: r.commit_hash):
                for cached in sorted(revision.files, key=lambda f: str(f.file_path)):
                    if not is_model_file_name(cached.file_name):
                        continue
                    rel = cached.file_path.relative_to(revision.snapshot_path).as_posix()
                    yield Candidate(
                        path=cached.file_path,
                        source_kind="hf_cache",
                        display_name=f"{repo.repo_id}/{rel}",
                        name=cached.file_name,
                        repo=repo.repo_id,
                        revision=revision.commit_hash,
                    )


def own_models_source(roots: Iterable[Path]) -> TreeSource:
    return TreeSource("quantdesk", tuple(roots), "publisher_repo")


def lmstudio_roots(home: Path) -> tuple[Path, ...]:
    # ~/.cache/lm-studio/models is where LM Studio kept models before version 0.3.
    return (home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models")


def lmstudio_source(home: Path) -> TreeSource:
    return TreeSource("lmstudio", lmstudio_roots(home), "publisher_repo")


def gpt4all_folder(home: Path, env: Mapping[str, str], system: str) -> Path:
    """GPT4All's download folder: Qt's AppLocalDataLocation for "nomic.ai/GPT4All"."""
    if system == "Windows":
        base = env.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "nomic.ai" / "GPT4All"
    if system == "Darwin":
        return home / "Library" / "Application Support" / "nomic.ai" / "GPT4All"
    base = env.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(base) / "nomic.ai" / "GPT4All"


def gpt4all_source(home: Path, env: Mapping[str, str], system: str) -> TreeSource:
    return TreeSource("gpt4all", (gpt4all_folder(home, env, system),), "flat")


def folder_source(folder: Path) -> TreeSource:
    return TreeSource("folder", (folder,), "any")


def default_sources(
    own_roots: Iterable[Path],
    *,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    system: str | None = None,
    hf_cache_dir: Path | None = None,
    folders: Iterable[Path] = (),
) -> tuple[ModelSource, ...]:
    """Every known place, QuantDesk's own first (the order decides each file's main location).

    ``home``, ``env`` and ``system`` default to this machine's; tests pass fake ones.
    """
    home = home if home is not None else Path.home()
    env = env if env is not None else os.environ
    system = system or platform.system()
    sources: list[ModelSource] = [own_models_source(own_roots)]
    sources.extend(folder_source(f) for f in folders)
    sources.append(lmstudio_source(home))
    sources.append(HFCacheSource(hf_cache_dir))
    sources.append(OllamaSource(ollama_roots(home, env, system)))
    sources.append(gpt4all_source(home, env, system))
    return tuple(sources)
