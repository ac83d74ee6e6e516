"""The curated offline catalog loads, holds only valid entries, and claims nothing unknown."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_app.core.hub.catalog import CatalogEntry, filter_catalog, load_catalog
from desktop_app.resources import resource_path


def test_catalog_covers_the_families_across_sizes() -> None:
    entries = load_catalog()
    assert 20 <= len(entries) <= 40
    families = " ".join(e.family for e in entries)
    for family in (
        "Qwen2.5",
        "Qwen3",
        "Llama 3.1",
        "Llama 3.2",
        "Phi-3",
        "Phi-4",
        "Gemma 2",
        "Gemma 3",
        "Mistral",
        "SmolLM2",
    ):
        assert family in families, family
    sizes = [e.parameter_count for e in entries if e.parameter_count]
    assert min(sizes) < 10**9 and max(sizes) >= 14 * 10**9
    assert len({e.repo_id for e in entries}) == len(entries)


def test_catalog_file_has_only_known_fields_and_valid_values() -> None:
    doc = json.loads(resource_path("catalog.json").read_text(encoding="utf-8"))
    assert doc["version"] == 1
    raw = doc["models"]
    assert len(raw) == len(load_catalog())  # nothing skipped as malformed
    for row in raw:
        assert set(row) <= {"repo_id", "family", "params", "license"}
        if "params" in row:
            # The count is only given when the repo name itself states it.
            assert row["params"].lower() in row["repo_id"].lower(), row
        if "license" in row:
            assert row["license"] in {"apache-2.0", "mit", "llama3.1", "llama3.2", "gemma"}


def test_parameter_count_parsing() -> None:
    assert CatalogEntry("a/b", "X", "0.5B").parameter_count == 500_000_000
    assert CatalogEntry("a/b", "X", "360M").parameter_count == 360_000_000
    assert CatalogEntry("a/b", "X").parameter_count is None


def test_filter_catalog() -> None:
    entries = load_catalog()
    qwen7 = filter_catalog(entries, "qwen 7b")
    assert {e.repo_id for e in qwen7} == {
        "Qwen/Qwen2.5-7B-Instruct-GGUF",
        "Qwen/Qwen2.5-Coder-7B-Instruct-GGUF",
    }
    assert filter_catalog(entries, "") == entries


def test_malformed_catalog_entries_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "models": [
                    {"repo_id": "../evil", "family": "X"},
                    {"repo_id": "ok/Fine-GGUF", "family": "Fine", "params": "lots"},
                    "nonsense",
                ],
            }
        )
    )
    entries = load_catalog(path)
    assert entries == (CatalogEntry("ok/Fine-GGUF", "Fine", None, None),)
    assert load_catalog(tmp_path / "missing.json") == ()
