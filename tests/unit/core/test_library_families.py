"""Grouping variants into families, with realistic published file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from library_fakes import write_gguf

from desktop_app.core.library.families import (
    ModelFamily,
    group_families,
    quant_label_for,
    shard_info,
)
from desktop_app.core.library.index import LibraryIndex
from desktop_app.core.library.sources import folder_source, lmstudio_source, own_models_source


def scan_families(tmp_path: Path, *sources: object) -> tuple[ModelFamily, ...]:
    snap = LibraryIndex(tmp_path / "cache.json").scan(sources)  # type: ignore[arg-type]
    return group_families(snap.entries)


def test_two_quants_in_one_repo_are_one_family(tmp_path: Path) -> None:
    repo = tmp_path / "models" / "bartowski" / "Qwen2.5-7B-Instruct-GGUF"
    write_gguf(repo / "Qwen2.5-7B-Instruct-Q4_K_M.gguf", quant="Q4_K_M", n_elements=64)
    write_gguf(repo / "Qwen2.5-7B-Instruct-Q8_0.gguf", quant="Q8_0", n_elements=128)
    families = scan_families(tmp_path, own_models_source([tmp_path / "models"]))
    assert len(families) == 1
    family = families[0]
    assert family.name == "Qwen2.5 7B"
    assert family.repo == "bartowski/Qwen2.5-7B-Instruct-GGUF"
    assert family.key == "bartowski/qwen2-5-7b-instruct-gguf:qwen2-5-7b"
    assert [v.quant_label for v in family.variants] == ["Q8_0", "Q4_K_M"]  # best first
    assert family.variants[0].file_type is not None and family.variants[0].file_type.rank == 330
    assert family.size == sum(v.size for v in family.variants)


def test_variants_sorted_best_quality_first(tmp_path: Path) -> None:
    repo = tmp_path / "m" / "unsloth" / "Llama-3.1-8B-Instruct-GGUF"
    for quant in ("Q2_K", "F16", "Q4_K_M", "Q6_K", "Q8_0", "Q3_K_M"):
        write_gguf(repo / f"Llama-3.1-8B-Instruct-{quant}.gguf", quant=quant, basename="Llama-3.1")
    (repo / "Llama-3.1-8B-Instruct-mystery.gguf").write_bytes(b"not a model")
    (families,) = scan_families(tmp_path, own_models_source([tmp_path / "m"]))
    assert [v.quant_label for v in families.variants] == [
        "F16",
        "Q8_0",
        "Q6_K",
        "Q4_K_M",
        "Q3_K_M",
        "Q2_K",
        "unknown",  # broken, no label in its name: last
    ]


def test_split_model_is_one_variant(tmp_path: Path) -> None:
    repo = tmp_path / "m" / "bartowski" / "Qwen2.5-72B-Instruct-GGUF"
    parts = [
        write_gguf(
            repo
            / "Qwen2.5-72B-Instruct-Q4_K_M"
            / f"Qwen2.5-72B-Instruct-Q4_K_M-0000{i}-of-00003.gguf",
            basename="Qwen2.5",
            size_label="72B",
            split=(i, 3),
            n_elements=64 * i,
        )
        for i in (1, 2, 3)
    ]
    write_gguf(
        repo / "Qwen2.5-72B-Instruct-Q2_K.gguf", basename="Qwen2.5", size_label="72B", quant="Q2_K"
    )
    (family,) = scan_families(tmp_path, own_models_source([tmp_path / "m"]))
    assert [v.quant_label for v in family.variants] == ["Q4_K_M", "Q2_K"]
    split = family.variants[0]
    assert split.shard_count == 3 and split.missing_shards == ()
    assert split.path == parts[0]  # only part 1 is loaded
    assert split.size == sum(p.stat().st_size for p in parts)
    assert [e.path for e in split.entries] == parts
    assert split.broken_reason is None
    assert family.variants[1].shard_count == 1


def test_split_model_missing_or_broken_part(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    for i in (1, 3):
        write_gguf(folder / f"Big-Q8_0-0000{i}-of-00003.gguf", basename="Big", split=(i, 3))
    (family,) = scan_families(tmp_path, folder_source(folder))
    (variant,) = family.variants
    assert variant.missing_shards == (2,)
    assert variant.broken_reason == "missing_shards"

    part2 = write_gguf(folder / "Big-Q8_0-00002-of-00003.gguf", basename="Big", split=(2, 3))
    data = part2.read_bytes()
    part2.write_bytes(data[:-1])  # a truncated download of part 2
    (family,) = scan_families(tmp_path, folder_source(folder))
    (variant,) = family.variants
    assert variant.missing_shards == ()
    assert variant.broken_reason == "data_past_eof"


def test_same_basename_different_size_or_repo_are_different_families(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models = home / ".lmstudio" / "models"
    write_gguf(
        models / "Qwen" / "Qwen2.5-0.5B-Instruct-GGUF" / "qwen2.5-0.5b-instruct-q8_0.gguf",
        size_label="0.5B",
        quant="Q8_0",
    )
    write_gguf(
        models / "Qwen" / "Qwen2.5-7B-Instruct-GGUF" / "qwen2.5-7b-instruct-q8_0.gguf",
        size_label="7B",
        quant="Q8_0",
    )
    write_gguf(
        models / "bartowski" / "Qwen2.5-7B-Instruct-GGUF" / "Qwen2.5-7B-Instruct-Q8_0.gguf",
        size_label="7B",
        quant="Q8_0",
    )
    families = scan_families(tmp_path, lmstudio_source(home))
    assert len(families) == 3
    assert all(len(f.variants) == 1 for f in families)


def test_names_without_metadata_group_by_file_stem(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    for quant in ("Q4_K_M", "Q5_K_M"):
        write_gguf(
            folder / f"Mistral-7B-Instruct-v0.3-{quant}.gguf",
            basename=None,
            size_label=None,
            quant=quant,
        )
    write_gguf(
        folder / "Mistral-7B-Instruct-v0.3.IQ4_XS.gguf", basename=None, size_label=None, quant=None
    )
    write_gguf(
        folder / "phi-3-mini-4k-instruct-q4.gguf", basename=None, size_label=None, quant=None
    )
    families = scan_families(tmp_path, folder_source(folder))
    by_name = {f.name: f for f in families}
    assert sorted(by_name) == ["Mistral-7B-Instruct-v0.3", "phi-3-mini-4k-instruct-q4"]
    assert [v.quant_label for v in by_name["Mistral-7B-Instruct-v0.3"].variants] == [
        "Q5_K_M",
        "Q4_K_M",
        "IQ4_XS",
    ]


def test_general_name_used_without_basename(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    write_gguf(folder / "a.gguf", basename=None, size_label=None, name="Gemma 2 9B It Q4_K_M")
    write_gguf(
        folder / "b.gguf", basename=None, size_label=None, name="Gemma 2 9B It", quant="Q8_0"
    )
    (family,) = scan_families(tmp_path, folder_source(folder))
    assert family.key == "gemma-2-9b-it"
    assert len(family.variants) == 2


def test_vision_projector_is_its_own_family(tmp_path: Path) -> None:
    repo = tmp_path / "m" / "ggml-org" / "gemma-3-4b-it-GGUF"
    write_gguf(repo / "gemma-3-4b-it-Q4_K_M.gguf", basename="gemma-3", size_label="4B")
    write_gguf(
        repo / "mmproj-model-f16.gguf",
        basename="gemma-3",
        size_label="4B",
        architecture="clip",
        quant="F16",
    )
    families = scan_families(tmp_path, own_models_source([tmp_path / "m"]))
    assert sorted(f.key for f in families) == [
        "ggml-org/gemma-3-4b-it-gguf:gemma-3-4b",
        "ggml-org/gemma-3-4b-it-gguf:gemma-3-4b/mmproj",
    ]


def test_fullwidth_and_case_normalise_together(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    write_gguf(folder / "a.gguf", basename="Ｑｗｅｎ2.5", size_label="7B")
    write_gguf(folder / "b.gguf", basename="qwen2.5", size_label="7b", quant="Q8_0")
    (family,) = scan_families(tmp_path, folder_source(folder))
    assert len(family.variants) == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Qwen2.5-72B-Instruct-Q4_K_M-00001-of-00003.gguf", ("Qwen2.5-72B-Instruct-Q4_K_M", 1, 3)),
        ("model-00003-of-00003.gguf", ("model", 3, 3)),
        ("model-00004-of-00003.gguf", None),
        ("model-00000-of-00003.gguf", None),
        ("model-Q4_K_M.gguf", None),
    ],
)
def test_shard_info(name: str, expected: tuple[str, int, int] | None) -> None:
    assert shard_info(name) == expected


def test_quant_label_prefers_the_header(tmp_path: Path) -> None:
    from desktop_app.core.model_facts import read_model_facts

    facts = read_model_facts(write_gguf(tmp_path / "x-Q2_K.gguf", quant="Q8_0"))
    assert quant_label_for(facts, "x-Q2_K.gguf") == "Q8_0"
    unlabeled = read_model_facts(write_gguf(tmp_path / "y.gguf", quant=None))
    assert quant_label_for(unlabeled, "y-Q5_K_S.gguf") == "Q5_K_S"
    assert quant_label_for(unlabeled, "y.gguf") == "F32"  # inferred from tensor types
    assert quant_label_for(None, "y.gguf") == "unknown"
    assert quant_label_for(None, "llama3.2-3b-instruct-q4_K_M") == "Q4_K_M"  # an Ollama tag
