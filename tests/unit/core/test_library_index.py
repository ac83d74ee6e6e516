"""The library index: dedup by physical file, cached facts, broken files, incremental rescans."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from library_fakes import hf_cache_repo, lmstudio_model, ollama_model, write_gguf

from desktop_app.core.errors import FileAccessError
from desktop_app.core.library import index as index_module
from desktop_app.core.library.entries import Candidate, ScanProblem, ScanProgress
from desktop_app.core.library.index import LibraryIndex
from desktop_app.core.library.ollama import OllamaSource
from desktop_app.core.library.sources import (
    HFCacheSource,
    folder_source,
    lmstudio_source,
    own_models_source,
)
from desktop_app.core.model_facts import ModelFacts, read_model_facts
from desktop_app.core.synthetic_model import write_model


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every header the index reads, in order."""
    seen: list[str] = []

    def counting(path: str | os.PathLike[str]) -> ModelFacts:
        seen.append(str(path))
        return read_model_facts(path)

    monkeypatch.setattr(index_module, "read_model_facts", counting)
    return seen


@pytest.fixture
def index(tmp_path: Path) -> LibraryIndex:
    return LibraryIndex(tmp_path / "cache" / "library-index.json")


def test_cold_then_warm_scan_reads_nothing(
    tmp_path: Path, index: LibraryIndex, reads: list[str]
) -> None:
    root = tmp_path / "models"
    for i in range(5):
        write_gguf(root / "pub" / "repo" / f"m{i}-Q4_K_M.gguf")
    sources = [own_models_source([root])]

    cold = index.scan(sources)
    assert len(cold.entries) == 5 and len(reads) == 5
    assert (cold.stats.read, cold.stats.from_cache) == (5, 0)
    assert all(e.facts is not None and e.own for e in cold.entries)

    reads.clear()
    warm = LibraryIndex(index.cache_file).scan(sources)  # a new process: cache from disk
    assert reads == []
    assert (warm.stats.read, warm.stats.from_cache) == (0, 5)
    assert [e.facts for e in warm.entries] == [e.facts for e in cold.entries]


def test_changed_file_is_reread_unchanged_not(
    tmp_path: Path, index: LibraryIndex, reads: list[str]
) -> None:
    root = tmp_path / "models"
    a = write_gguf(root / "pub" / "repo" / "a-Q4_K_M.gguf")
    b = write_gguf(root / "pub" / "repo" / "b-Q4_K_M.gguf")
    sources = [own_models_source([root])]
    index.scan(sources)
    reads.clear()

    write_gguf(a, quant="Q8_0", n_elements=128)  # rewritten in place: new size and mtime
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched only

    snap = index.scan(sources)
    assert sorted(Path(p).name for p in reads) == ["a-Q4_K_M.gguf", "b-Q4_K_M.gguf"]
    by_name = {e.name: e for e in snap.entries}
    assert by_name["a-Q4_K_M.gguf"].quant_label == "Q8_0"  # the header wins over the name

    reads.clear()
    index.scan(sources)
    assert reads == []


def test_file_replaced_by_rename_is_reread(
    tmp_path: Path, index: LibraryIndex, reads: list[str]
) -> None:
    root = tmp_path / "models"
    target = write_gguf(root / "p" / "r" / "m-Q4_K_M.gguf")
    sources = [own_models_source([root])]
    index.scan(sources)
    st = target.stat()
    fresh = write_gguf(tmp_path / "fresh.gguf", quant="Q2_K")
    # Same size and mtime, new inode: a re-download that kept the timestamp.
    os.utime(fresh, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(fresh, target)
    reads.clear()
    snap = index.scan(sources)
    assert len(reads) == 1
    assert snap.entries[0].quant_label == "Q2_K"


def test_moved_file_keeps_its_cache_entry(
    tmp_path: Path, index: LibraryIndex, reads: list[str]
) -> None:
    root = tmp_path / "models"
    path = write_gguf(root / "p" / "r" / "m-Q4_K_M.gguf")
    index.scan([own_models_source([root])])
    reads.clear()
    moved = root / "p" / "other" / "m-Q4_K_M.gguf"
    moved.parent.mkdir()
    path.rename(moved)
    snap = index.scan([own_models_source([root])])
    assert reads == []
    assert snap.entries[0].path == moved
    assert snap.entries[0].facts is not None and snap.entries[0].facts.path == str(moved)


def test_hard_link_in_two_roots_is_one_model(tmp_path: Path, index: LibraryIndex) -> None:
    home = tmp_path / "home"
    lms = lmstudio_model(home, "bartowski", "Qwen-GGUF", "Qwen-Q4_K_M.gguf")
    own = tmp_path / "own"
    (own / "bartowski" / "Qwen-GGUF").mkdir(parents=True)
    os.link(lms, own / "bartowski" / "Qwen-GGUF" / "Qwen-Q4_K_M.gguf")

    snap = index.scan([own_models_source([own]), lmstudio_source(home)])
    assert len(snap.entries) == 1
    entry = snap.entries[0]
    assert [(loc.source_kind, loc.path) for loc in entry.paths] == [
        ("quantdesk", own / "bartowski" / "Qwen-GGUF" / "Qwen-Q4_K_M.gguf"),
        ("lmstudio", lms),
    ]
    assert entry.own
    assert entry.path == own / "bartowski" / "Qwen-GGUF" / "Qwen-Q4_K_M.gguf"


def test_hf_blob_reached_from_snapshot_ollama_and_link_is_one_model(
    tmp_path: Path, index: LibraryIndex, reads: list[str]
) -> None:
    src = write_gguf(tmp_path / "src.gguf")
    cache = tmp_path / "hub"
    links = hf_cache_repo(cache, "org/Model-GGUF", {"Model-Q4_K_M.gguf": src})
    # A second revision holding the same file points at the same blob.
    hf_cache_repo(cache, "org/Model-GGUF", {"Model-Q4_K_M.gguf": src}, commit="f" * 40, ref="v2")
    blob = Path(os.path.realpath(links["Model-Q4_K_M.gguf"]))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "linked-Q4_K_M.gguf").symlink_to(blob)

    snap = index.scan([HFCacheSource(cache), folder_source(folder)])
    assert len(snap.entries) == 1 and len(reads) == 1
    kinds = [(loc.source_kind, loc.revision) for loc in snap.entries[0].paths]
    assert kinds == [
        ("hf_cache", "0123456789abcdef0123456789abcdef01234567"),
        ("hf_cache", "f" * 40),
        ("folder", None),
    ]
    assert not snap.entries[0].own
    assert snap.entries[0].repo == "org/Model-GGUF"


def test_ollama_entries_are_read(tmp_path: Path, index: LibraryIndex) -> None:
    root = tmp_path / "ollama"
    src = write_gguf(tmp_path / "src.gguf", basename="Llama-3.2", size_label="1B")
    ollama_model(root, "llama3.2", "1b", src)
    ollama_model(root, "llama3.2", "latest", src)  # two tags, one blob
    snap = index.scan([OllamaSource((root,))])
    assert len(snap.entries) == 1
    assert [loc.display_name for loc in snap.entries[0].paths] == ["llama3.2:1b", "llama3.2:latest"]
    assert snap.entries[0].quant_label == "Q4_K_M"


def test_broken_files_are_entries_with_a_reason(
    tmp_path: Path, index: LibraryIndex, reads: list[str]
) -> None:
    root = tmp_path / "models"
    good = write_gguf(root / "good-Q4_K_M.gguf")
    (root / "empty-Q4_K_M.gguf").write_bytes(b"")
    (root / "zip-Q4_K_M.gguf").write_bytes(b"PK\x03\x04 a zip file")
    data = good.read_bytes()
    (root / "cut-Q4_K_M.gguf").write_bytes(data[: len(data) - 1])

    snap = index.scan([folder_source(root)])
    reasons = {e.name: e.broken_reason for e in snap.entries}
    assert reasons == {
        "cut-Q4_K_M.gguf": "data_past_eof",
        "empty-Q4_K_M.gguf": "empty",
        "good-Q4_K_M.gguf": None,
        "zip-Q4_K_M.gguf": "bad_magic",
    }
    assert all((e.facts is None) == (e.broken_reason is not None) for e in snap.entries)
    broken = next(e for e in snap.entries if e.name == "zip-Q4_K_M.gguf")
    assert broken.quant_label == "Q4_K_M"  # from the name: the header says nothing

    reads.clear()
    index.scan([folder_source(root)])
    assert reads == []  # a verdict about the bytes is cached like facts are


def test_huge_sparse_file_is_broken_quickly(tmp_path: Path, index: LibraryIndex) -> None:
    root = tmp_path / "models"
    root.mkdir()
    huge = root / "huge-Q4_K_M.gguf"
    with open(huge, "wb") as f:
        f.truncate(20 * 1024**3)  # 20 GB of holes: reading it all would take minutes
    started = time.perf_counter()
    snap = index.scan([folder_source(root)])
    assert time.perf_counter() - started < 2.0
    assert snap.entries[0].broken_reason == "bad_magic"
    assert snap.entries[0].size == 20 * 1024**3


def test_file_vanishing_during_scan(tmp_path: Path, index: LibraryIndex, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "models"
    write_gguf(root / "a-Q4_K_M.gguf")
    doomed = write_gguf(root / "b-Q4_K_M.gguf")

    def delete_then_read(path: str | os.PathLike[str]) -> ModelFacts:
        if Path(path) == doomed:
            doomed.unlink()  # listed and stat'ed, then deleted before its header is read
        return read_model_facts(path)

    monkeypatch.setattr(index_module, "read_model_facts", delete_then_read)
    snap = index.scan([folder_source(root)])
    assert [e.name for e in snap.entries] == ["a-Q4_K_M.gguf"]
    assert [(p.code, p.path) for p in snap.problems] == [("vanished", str(doomed))]


class _ListSource:
    """A source that names files which may not exist (vanished between listing and stat)."""

    kind = "folder"

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def candidates(
        self, problems: list[ScanProblem], cancel: threading.Event | None = None
    ) -> Iterator[Candidate]:
        for p in self.paths:
            yield Candidate(p, "folder", p.name, p.name)


def test_file_vanishing_before_stat(tmp_path: Path, index: LibraryIndex) -> None:
    real = write_gguf(tmp_path / "real-Q4_K_M.gguf")
    snap = index.scan([_ListSource([tmp_path / "gone.gguf", real, tmp_path])])
    assert [e.name for e in snap.entries] == ["real-Q4_K_M.gguf"]
    assert [p.code for p in snap.problems] == ["vanished", "not_a_file"]


def test_access_errors_are_not_cached(
    tmp_path: Path, index: LibraryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_gguf(tmp_path / "m-Q4_K_M.gguf")
    calls: list[str] = []

    def denied(path: str | os.PathLike[str]) -> ModelFacts:
        calls.append(str(path))
        raise FileAccessError("permission_denied", "EACCES", path=path)

    monkeypatch.setattr(index_module, "read_model_facts", denied)
    snap = index.scan([folder_source(tmp_path)])
    assert snap.entries[0].broken_reason == "permission_denied"
    monkeypatch.setattr(index_module, "read_model_facts", read_model_facts)
    snap = index.scan([folder_source(tmp_path)])  # permission fixed: read again
    assert snap.entries[0].broken_reason is None and len(calls) == 1


def test_unexpected_reader_failure_is_contained(
    tmp_path: Path, index: LibraryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_gguf(tmp_path / "m-Q4_K_M.gguf")

    def bug(path: str | os.PathLike[str]) -> ModelFacts:
        raise ZeroDivisionError

    monkeypatch.setattr(index_module, "read_model_facts", bug)
    snap = index.scan([folder_source(tmp_path)])
    assert snap.entries[0].broken_reason == "internal_error"


def test_real_model_facts_survive_the_cache(tmp_path: Path, reads: list[str]) -> None:
    root = tmp_path / "models"
    path = write_model(root / "p" / "r" / "tiny-F16.gguf", "tiny")
    cache = tmp_path / "c.json"
    cold = LibraryIndex(cache).scan([own_models_source([root])])
    warm = LibraryIndex(cache).scan([own_models_source([root])])
    assert len(reads) == 1
    assert warm.entries[0].facts == cold.entries[0].facts == read_model_facts(path)


def cache_records(cache: Path) -> list[object]:
    """The cache's records: JSON Lines, a header line then one [key, record] per line."""
    header, *lines = cache.read_text().splitlines()
    assert json.loads(header)["format"] == 2
    return [json.loads(line) for line in lines]


def test_one_damaged_line_costs_one_read(tmp_path: Path, reads: list[str]) -> None:
    root = tmp_path / "models"
    for name in ("a", "b", "c"):
        write_gguf(root / f"{name}-Q4_K_M.gguf")
    cache = tmp_path / "c.json"
    LibraryIndex(cache).scan([folder_source(root)])
    header, first, *rest = cache.read_text().splitlines()
    cache.write_text("\n".join([header, first[: len(first) // 2], *rest]) + "\n")
    reads.clear()
    LibraryIndex(cache).scan([folder_source(root)])
    assert len(reads) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: "[]",
        lambda text: text.replace('"format":2', '"format":99'),
        lambda text: text.replace('"n_layer":null', '"n_layer":"three"'),
        lambda text: text.replace('"size":', '"size":"x","_":'),
        lambda text: text.replace('"tensors":[', '"tensors":[7,'),
    ],
)
def test_damaged_cache_means_reading_again(
    tmp_path: Path, reads: list[str], damage: object
) -> None:
    write_gguf(tmp_path / "models" / "m-Q4_K_M.gguf")
    sources = [folder_source(tmp_path / "models")]
    cache = tmp_path / "c.json"
    LibraryIndex(cache).scan(sources)
    original = cache.read_text()
    cache.write_text(damage(original))  # type: ignore[operator]
    assert cache.read_text() != original
    reads.clear()
    snap = LibraryIndex(cache).scan(sources)
    assert len(reads) == 1 and snap.entries[0].facts is not None


def test_cache_file_written_only_when_something_changed(
    tmp_path: Path, index: LibraryIndex
) -> None:
    write_gguf(tmp_path / "models" / "m-Q4_K_M.gguf")
    sources = [folder_source(tmp_path / "models")]
    index.scan(sources)
    first = index.cache_file.stat().st_mtime_ns
    time.sleep(0.01)
    index.scan(sources)
    assert index.cache_file.stat().st_mtime_ns == first
    assert len(cache_records(index.cache_file)) == 1


def test_unwritable_cache_does_not_fail_the_scan(tmp_path: Path) -> None:
    write_gguf(tmp_path / "models" / "m-Q4_K_M.gguf")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    snap = LibraryIndex(blocker / "c.json").scan([folder_source(tmp_path / "models")])
    assert len(snap.entries) == 1


def test_progress_and_cancel(tmp_path: Path, reads: list[str]) -> None:
    root = tmp_path / "models"
    for i in range(6):
        write_gguf(root / f"m{i}-Q4_K_M.gguf")
    sources = [folder_source(root)]
    cache = tmp_path / "c.json"
    cancel = threading.Event()
    progress: list[ScanProgress] = []

    def on_progress(p: ScanProgress) -> None:
        progress.append(p)
        if p.done == 2:
            cancel.set()

    snap = LibraryIndex(cache).scan(sources, cancel, on_progress)
    assert snap.cancelled
    assert [(p.done, p.total) for p in progress] == [(1, 6), (2, 6)]
    assert len(snap.entries) == 2

    reads.clear()
    full = LibraryIndex(cache).scan(sources)  # the cancelled scan's work was kept
    assert not full.cancelled and len(full.entries) == 6 and len(reads) == 4


def test_cancel_before_start(tmp_path: Path, index: LibraryIndex) -> None:
    write_gguf(tmp_path / "m-Q4_K_M.gguf")
    cancel = threading.Event()
    cancel.set()
    snap = index.scan([folder_source(tmp_path)], cancel)
    assert snap.cancelled and snap.entries == ()


def test_unicode_names_round_trip(tmp_path: Path, reads: list[str]) -> None:
    root = tmp_path / "模型库"
    write_gguf(root / "社区" / "模型-GGUF" / "模型-Q4_K_M.gguf", basename="模型", size_label="7B")
    write_gguf(root / "pub" / "🦙-GGUF" / "🦙-Q8_0.gguf", basename="🦙", quant="Q8_0")
    cache = tmp_path / "c.json"
    LibraryIndex(cache).scan([own_models_source([root])])
    reads.clear()
    snap = LibraryIndex(cache).scan([own_models_source([root])])
    assert reads == []
    assert sorted(e.quant_label for e in snap.entries) == ["Q4_K_M", "Q8_0"]
    assert {e.facts.basename for e in snap.entries if e.facts} == {"模型", "🦙"}


def test_stale_records_are_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "models"
    gone = write_gguf(root / "gone-Q4_K_M.gguf")
    write_gguf(root / "kept-Q4_K_M.gguf")
    cache = tmp_path / "c.json"
    LibraryIndex(cache).scan([folder_source(root)])
    gone.unlink()
    later = time.time_ns() + 31 * 86_400 * 10**9
    monkeypatch.setattr(index_module.time, "time_ns", lambda: later)
    LibraryIndex(cache).scan([folder_source(root)])
    assert len(cache_records(cache)) == 1


def test_facts_codec_round_trip_and_type_checks(tmp_path: Path) -> None:
    from dataclasses import replace

    from desktop_app.core.library.facts_codec import decode_facts, encode_facts
    from desktop_app.core.sliding_window import SlidingWindow

    facts = read_model_facts(write_model(tmp_path / "t.gguf", "tiny"))
    facts = replace(facts, n_head_kv_per_layer=(2, 0), sliding_window=4096)
    data = json.loads(json.dumps(encode_facts(facts)))
    assert decode_facts(data, facts.path) == facts
    windowed = replace(facts, swa=SlidingWindow(4096, (True, False)))
    assert decode_facts(json.loads(json.dumps(encode_facts(windowed))), facts.path) == windowed
    for field, bad in (
        ("n_layer", True),
        ("bits_per_weight", "16"),
        ("has_chat_template", 1),
        ("file_type", 1.5),
        ("n_head_kv_per_layer", [1, "2"]),
        ("tensor_types", {"F16": [1, 2]}),
        ("tensors", [["a", "F16", 1]]),
        ("swa", {"window": 4096, "layers": [1, 0]}),
        ("swa", {"window": "4096", "layers": [True]}),
        ("swa", [4096]),
    ):
        with pytest.raises(ValueError, match=r"."):
            decode_facts({**data, field: bad}, "p")
    with pytest.raises(ValueError, match="missing"):
        decode_facts({k: v for k, v in data.items() if k != "vocab_size"}, "p")
