"""Model sources on fake homes built with the real apps' layouts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from library_fakes import hf_cache_repo, lmstudio_model, ollama_model, write_gguf

from desktop_app.core.library.entries import Candidate, ScanProblem
from desktop_app.core.library.ollama import OllamaSource, display_name, ollama_roots
from desktop_app.core.library.sources import (
    HFCacheSource,
    TreeSource,
    default_sources,
    folder_source,
    gpt4all_folder,
    gpt4all_source,
    lmstudio_source,
    own_models_source,
)
from desktop_app.core.library.walk import is_model_file_name, is_partial_name


def collect(source: object) -> tuple[list[Candidate], list[ScanProblem]]:
    problems: list[ScanProblem] = []
    found = list(source.candidates(problems))  # type: ignore[attr-defined]
    return found, problems


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("model-Q4_K_M.gguf", True),
        ("MODEL.GGUF", True),
        ("模型-Q4_K_M.gguf", True),
        ("🦙-Q8_0.gguf", True),
        ("model.gguf.part", False),
        ("model.gguf.incomplete", False),
        ("model.gguf.partial", False),
        ("model.gguf.crdownload", False),
        ("incomplete-model.gguf", False),
        ("Incomplete-Model.gguf", False),
        (".model.gguf.1234.partial", False),
        (".hidden.gguf", False),
        ("model.safetensors", False),
        ("model.ggml", False),
    ],
)
def test_model_file_names(name: str, ok: bool) -> None:
    assert is_model_file_name(name) is ok


def test_partial_names() -> None:
    assert is_partial_name("3f2a.bd1e44a1.incomplete")  # huggingface_hub's in-flight blob
    assert not is_partial_name("model-Q4_K_M.gguf")


# --- LM Studio and QuantDesk trees --------------------------------------------------------------


def test_lmstudio_both_roots_with_repo_layout(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lmstudio_model(home, "bartowski", "Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf")
    old = home / ".cache" / "lm-studio" / "models" / "TheBloke" / "Mistral-GGUF" / "m.Q8_0.gguf"
    write_gguf(old)
    repo = home / ".lmstudio" / "models" / "bartowski" / "Qwen2.5-7B-Instruct-GGUF"
    (repo / "README.md").write_text("not a model")
    (repo / "Qwen2.5-7B-Instruct-Q8_0.gguf.part").write_bytes(b"GGUF")
    (repo / ".Qwen-Q2_K.gguf.tmp").write_bytes(b"GGUF")

    found, problems = collect(lmstudio_source(home))

    assert problems == []
    assert [(c.display_name, c.repo, c.source_kind) for c in found] == [
        (
            "bartowski/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf",
            "bartowski/Qwen2.5-7B-Instruct-GGUF",
            "lmstudio",
        ),
        ("TheBloke/Mistral-GGUF/m.Q8_0.gguf", "TheBloke/Mistral-GGUF", "lmstudio"),
    ]
    assert found[0].name == "Qwen2.5-7B-Instruct-Q4_K_M.gguf"


def test_missing_roots_are_not_problems(tmp_path: Path) -> None:
    found, problems = collect(lmstudio_source(tmp_path / "nobody"))
    assert found == [] and problems == []


def test_file_as_root_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    found, problems = collect(folder_source(tmp_path / "file"))
    assert found == []
    assert [p.code for p in problems] == ["not_a_folder"]


def test_unicode_names(tmp_path: Path) -> None:
    root = tmp_path / "models"
    write_gguf(root / "社区" / "模型-GGUF" / "模型-Q4_K_M.gguf")
    write_gguf(root / "pub" / "repo" / "🦙 llama-Q8_0.gguf")
    found, problems = collect(own_models_source([root]))
    assert problems == []
    names = sorted(c.display_name for c in found)
    assert names == ["pub/repo/🦙 llama-Q8_0.gguf", "社区/模型-GGUF/模型-Q4_K_M.gguf"]
    assert {c.repo for c in found} == {"社区/模型-GGUF", "pub/repo"}


def test_files_directly_in_publisher_folder_have_no_repo(tmp_path: Path) -> None:
    write_gguf(tmp_path / "imported" / "a-Q4_K_M.gguf")
    found, _ = collect(own_models_source([tmp_path]))
    assert [(c.display_name, c.repo) for c in found] == [("imported/a-Q4_K_M.gguf", None)]


# --- symlinks, loops, unreadable folders --------------------------------------------------------


def test_symlink_loop_is_recorded_and_scan_finishes(tmp_path: Path) -> None:
    root = tmp_path / "models"
    write_gguf(root / "a" / "m-Q4_K_M.gguf")
    (root / "a" / "loop").symlink_to("..")  # a/loop -> models: an ancestor
    (root / "self").symlink_to(".")
    found, problems = collect(folder_source(root))
    assert [c.display_name for c in found] == ["a/m-Q4_K_M.gguf"]
    assert sorted(p.code for p in problems) == ["symlink_loop", "symlink_loop"]


def test_symlinked_files_and_folders_are_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "disk2" / "big"
    write_gguf(elsewhere / "x-Q8_0.gguf")
    root = tmp_path / "models"
    (root / "pub").mkdir(parents=True)
    (root / "pub" / "linked-repo").symlink_to(elsewhere, target_is_directory=True)
    (root / "pub" / "single-Q8_0.gguf").symlink_to(elsewhere / "x-Q8_0.gguf")
    (root / "pub" / "dangling-Q2_K.gguf").symlink_to(tmp_path / "nowhere.gguf")
    found, problems = collect(folder_source(root))
    assert sorted(c.display_name for c in found) == [
        "pub/linked-repo/x-Q8_0.gguf",
        "pub/single-Q8_0.gguf",
    ]
    assert [p.code for p in problems] == ["broken_link"]


def test_two_links_to_one_folder_walk_it_once(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    write_gguf(target / "m-Q4_K_M.gguf")
    root = tmp_path / "root"
    root.mkdir()
    for name in ("one", "two", "three"):
        (root / name).symlink_to(target, target_is_directory=True)
    found, problems = collect(folder_source(root))
    assert len(found) == 1 and problems == []


def test_permission_denied_folder_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where chmod 000 does not stop reads: deny one folder by hand instead.
    root = tmp_path / "models"
    write_gguf(root / "open" / "repo" / "a-Q4_K_M.gguf")
    write_gguf(root / "locked" / "repo" / "b-Q4_K_M.gguf")
    locked = root / "locked"
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if Path(str(path)) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    found, problems = collect(own_models_source([root]))
    assert [c.display_name for c in found] == ["open/repo/a-Q4_K_M.gguf"]
    assert [(p.code, p.path) for p in problems] == [("permission_denied", str(locked))]


def test_folder_vanishing_between_listing_and_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "models"
    write_gguf(root / "gone" / "a-Q4_K_M.gguf")
    write_gguf(root / "kept" / "b-Q4_K_M.gguf")
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if Path(str(path)) == root / "gone":
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    found, problems = collect(folder_source(root))
    assert [c.display_name for c in found] == ["kept/b-Q4_K_M.gguf"]
    assert problems == []


def test_cancel_stops_the_walk(tmp_path: Path) -> None:
    import threading

    for i in range(5):
        write_gguf(tmp_path / f"m{i}-Q4_K_M.gguf")
    cancel = threading.Event()
    cancel.set()
    assert list(folder_source(tmp_path).candidates([], cancel)) == []


# --- Hugging Face cache --------------------------------------------------------------------------


def test_hf_cache_layout(tmp_path: Path) -> None:
    from huggingface_hub import scan_cache_dir

    src_q4 = write_gguf(tmp_path / "src" / "q4.gguf")
    src_q8 = write_gguf(tmp_path / "src" / "q8.gguf", quant="Q8_0")
    cache = tmp_path / "hub"
    links = hf_cache_repo(
        cache,
        "bartowski/Qwen2.5-7B-Instruct-GGUF",
        {"Qwen2.5-7B-Instruct-Q4_K_M.gguf": src_q4, "Q8_0/Qwen2.5-7B-Instruct-Q8_0.gguf": src_q8},
    )
    config = tmp_path / "src" / "config.json"
    config.write_text("{}")
    hf_cache_repo(cache, "bartowski/Qwen2.5-7B-Instruct-GGUF", {"config.json": config})

    info = scan_cache_dir(cache)  # huggingface_hub itself accepts the fake layout
    assert info.warnings == [] and len(info.repos) == 1

    found, problems = collect(HFCacheSource(cache))
    assert problems == []
    assert [(c.display_name, c.repo, c.revision, c.name) for c in found] == [
        (
            "bartowski/Qwen2.5-7B-Instruct-GGUF/Q8_0/Qwen2.5-7B-Instruct-Q8_0.gguf",
            "bartowski/Qwen2.5-7B-Instruct-GGUF",
            "0123456789abcdef0123456789abcdef01234567",
            "Qwen2.5-7B-Instruct-Q8_0.gguf",
        ),
        (
            "bartowski/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf",
            "bartowski/Qwen2.5-7B-Instruct-GGUF",
            "0123456789abcdef0123456789abcdef01234567",
            "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        ),
    ]
    # The snapshot path (a symlink with the real file name) is the location, not the blob.
    assert found[1].path == links["Qwen2.5-7B-Instruct-Q4_K_M.gguf"]
    assert found[1].path.is_symlink()


def test_hf_cache_missing_is_empty(tmp_path: Path) -> None:
    assert collect(HFCacheSource(tmp_path / "no-cache")) == ([], [])


def test_hf_cache_default_follows_hf_hub_cache(tmp_path: Path) -> None:
    # The suite sets HF_HUB_CACHE before huggingface_hub is imported; None must use it.
    from huggingface_hub import constants

    src = write_gguf(tmp_path / "src.gguf")
    hf_cache_repo(Path(constants.HF_HUB_CACHE), "org/default-cache-GGUF", {"x-Q4_K_M.gguf": src})
    try:
        found, _ = collect(HFCacheSource())
        assert "org/default-cache-GGUF/x-Q4_K_M.gguf" in [c.display_name for c in found]
    finally:
        import shutil

        shutil.rmtree(Path(constants.HF_HUB_CACHE) / "models--org--default-cache-GGUF")


def test_hf_cache_corrupt_repo_is_a_problem_others_still_scan(tmp_path: Path) -> None:
    src = write_gguf(tmp_path / "src.gguf")
    cache = tmp_path / "hub"
    hf_cache_repo(cache, "good/repo-GGUF", {"good-Q4_K_M.gguf": src})
    links = hf_cache_repo(cache, "bad/repo-GGUF", {"bad-Q4_K_M.gguf": src})
    Path(os.path.realpath(links["bad-Q4_K_M.gguf"])).unlink()  # blob deleted by hand
    found, problems = collect(HFCacheSource(cache))
    assert [c.display_name for c in found] == ["good/repo-GGUF/good-Q4_K_M.gguf"]
    assert [p.code for p in problems] == ["hf_cache_corrupt"]


# --- Ollama --------------------------------------------------------------------------------------


def test_ollama_names_like_ollama_list(tmp_path: Path) -> None:
    root = tmp_path / "ollama" / "models"
    src = write_gguf(tmp_path / "m.gguf")
    ollama_model(root, "llama3.2", "1b", src)
    ollama_model(root, "qwen2.5", "7b-instruct-q4_K_M", src, namespace="someone")
    ollama_model(
        root,
        "Qwen2.5-7B-Instruct-GGUF",
        "Q4_K_M",
        src,
        host="hf.co",
        namespace="bartowski",
    )
    found, problems = collect(OllamaSource((root,)))
    assert problems == []
    assert sorted((c.display_name, c.repo, c.name) for c in found) == [
        (
            "hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M",
            "bartowski/Qwen2.5-7B-Instruct-GGUF",
            "Qwen2.5-7B-Instruct-GGUF-Q4_K_M",
        ),
        ("llama3.2:1b", None, "llama3.2-1b"),
        ("someone/qwen2.5:7b-instruct-q4_K_M", None, "qwen2.5-7b-instruct-q4_K_M"),
    ]
    blob_dir = root / "blobs"
    assert all(c.path.parent == blob_dir and c.path.name.startswith("sha256-") for c in found)
    assert display_name("registry.ollama.ai", "library", "llama3", "latest") == "llama3:latest"


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:../../../etc/passwd",
        "sha256:../../../../etc/ld.so.preload",
        "sha256:" + "A" * 64,  # uppercase is not what Ollama writes
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 64 + "\n",
        "sha512:" + "a" * 64,
        "sha256-" + "a" * 64,
        "/etc/passwd",
    ],
)
def test_ollama_hostile_digest_is_rejected(tmp_path: Path, digest: str) -> None:
    root = tmp_path / "models"
    (root / "blobs").mkdir(parents=True)
    manifest = ollama_model(root, "evil", "latest", None, digest=digest)
    found, problems = collect(OllamaSource((root,)))
    assert found == []
    assert [(p.code, p.path) for p in problems] == [("bad_digest", str(manifest))]


def test_ollama_blob_symlinked_outside_store_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "models"
    src = write_gguf(tmp_path / "m.gguf")
    ollama_model(root, "llama3", "latest", src)
    blob = next((root / "blobs").iterdir())
    outside = tmp_path / "secret.gguf"
    outside.write_bytes(blob.read_bytes())
    blob.unlink()
    blob.symlink_to(outside)
    found, problems = collect(OllamaSource((root,)))
    assert found == []
    assert [p.code for p in problems] == ["unsafe_blob_path"]


def test_ollama_bad_manifests(tmp_path: Path) -> None:
    root = tmp_path / "models"
    src = write_gguf(tmp_path / "m.gguf")
    ollama_model(root, "good", "latest", src)
    tags = root / "manifests" / "registry.ollama.ai" / "library"
    (tags / "garbage").mkdir()
    (tags / "garbage" / "latest").write_bytes(b"\xff\xfe not json")
    (tags / "list").mkdir()
    (tags / "list" / "latest").write_text("[1, 2]")
    (tags / "huge").mkdir()
    (tags / "huge" / "latest").write_text(" " * (2 * 1024 * 1024))
    (tags / "embed").mkdir()
    (tags / "embed" / "latest").write_text(json.dumps({"schemaVersion": 2, "layers": []}))
    missing = ollama_model(root, "missing", "latest", None, digest="sha256:" + "e" * 64)
    found, problems = collect(OllamaSource((root,)))
    assert [c.display_name for c in found] == ["good:latest"]
    assert sorted(p.code for p in problems) == [
        "bad_manifest",
        "bad_manifest",
        "bad_manifest",
        "missing_blob",
    ]
    assert str(missing) in [p.path for p in problems if p.code == "missing_blob"]


def test_ollama_roots() -> None:
    home = Path("/home/u")
    assert ollama_roots(home, {"OLLAMA_MODELS": "/data/ollama"}, "Linux") == (Path("/data/ollama"),)
    assert ollama_roots(home, {}, "Linux") == (
        home / ".ollama" / "models",
        Path("/usr/share/ollama/.ollama/models"),
    )
    assert ollama_roots(home, {}, "Darwin") == (home / ".ollama" / "models",)


# --- GPT4All and folders -------------------------------------------------------------------------


def test_gpt4all_flat_folder_skips_partials(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = gpt4all_folder(home, {}, "Linux")
    assert folder == home / ".local" / "share" / "nomic.ai" / "GPT4All"
    write_gguf(folder / "Meta-Llama-3-8B-Instruct.Q4_0.gguf")
    (folder / "incomplete-Phi-3-mini-4k-instruct.Q4_0.gguf").write_bytes(b"GGUF\x03")
    (folder / "gpt4all-1234.chat").write_bytes(b"chat")
    write_gguf(folder / "sub" / "not-walked.gguf")  # GPT4All keeps models flat
    found, problems = collect(gpt4all_source(home, {}, "Linux"))
    assert [c.display_name for c in found] == ["Meta-Llama-3-8B-Instruct.Q4_0.gguf"]
    assert problems == []


def test_gpt4all_folder_per_platform() -> None:
    home = Path("/h")
    assert gpt4all_folder(home, {"XDG_DATA_HOME": "/x"}, "Linux") == Path("/x/nomic.ai/GPT4All")
    assert gpt4all_folder(home, {}, "Darwin") == Path(
        "/h/Library/Application Support/nomic.ai/GPT4All"
    )
    assert gpt4all_folder(home, {"LOCALAPPDATA": "C:/Users/u/AppData/Local"}, "Windows") == Path(
        "C:/Users/u/AppData/Local/nomic.ai/GPT4All"
    )


def test_user_folder_any_depth(tmp_path: Path) -> None:
    write_gguf(tmp_path / "a" / "b" / "c" / "d" / "deep-Q4_K_M.gguf")
    found, _ = collect(folder_source(tmp_path))
    assert [(c.display_name, c.repo, c.source_kind) for c in found] == [
        ("a/b/c/d/deep-Q4_K_M.gguf", None, "folder")
    ]


def test_default_sources_order(tmp_path: Path) -> None:
    sources = default_sources(
        [tmp_path / "own"], home=tmp_path, env={}, system="Linux", folders=[tmp_path / "extra"]
    )
    assert [s.kind for s in sources] == [
        "quantdesk",
        "folder",
        "lmstudio",
        "hf_cache",
        "ollama",
        "gpt4all",
    ]
    own = sources[0]
    assert isinstance(own, TreeSource) and own.roots == (tmp_path / "own",)
