"""First-run advice: catalog models that fit this machine, one per family, largest first."""

from __future__ import annotations

import pytest

from desktop_app.core.fit import GIB, Verdict
from desktop_app.core.hub.catalog import CatalogEntry, load_catalog
from desktop_app.core.suggestions import largest_fitting, price_entry, suggest_models

CATALOG = (
    CatalogEntry("a/Tiny-0.5B-GGUF", "Tiny", "0.5B"),
    CatalogEntry("a/Tiny-1B-GGUF", "Tiny", "1B"),
    CatalogEntry("b/Mid-3B-GGUF", "Mid", "3B"),
    CatalogEntry("c/Big-8B-GGUF", "Big", "8B"),
    CatalogEntry("d/Huge-70B-GGUF", "Huge", "70B"),
    CatalogEntry("e/NoSize-GGUF", "NoSize"),
)


@pytest.mark.parametrize(
    ("available_gib", "expected"),
    [
        (0.5, []),
        (2, ["a/Tiny-1B-GGUF"]),
        (6, ["b/Mid-3B-GGUF", "a/Tiny-1B-GGUF"]),
        (16, ["c/Big-8B-GGUF", "b/Mid-3B-GGUF", "a/Tiny-1B-GGUF"]),
        (512, ["d/Huge-70B-GGUF", "c/Big-8B-GGUF", "b/Mid-3B-GGUF"]),
    ],
)
def test_suggestions_fit_with_room_to_spare(available_gib: float, expected: list[str]) -> None:
    available = int(available_gib * GIB)
    got = suggest_models(CATALOG, available)
    assert [s.entry.repo_id for s in got] == expected
    for s in got:
        assert s.verdict is Verdict.FITS and s.total <= available // 2
        assert s.quant == "Q4_K_M" and 0 < s.file_size < s.total


def test_price_grows_with_parameters_and_bits() -> None:
    small = price_entry(CATALOG[1], 64 * GIB)
    big = price_entry(CATALOG[3], 64 * GIB)
    assert small is not None and big is not None and small.total < big.total
    eight_bit = price_entry(CATALOG[3], 64 * GIB, quant="Q8_0")
    assert eight_bit is not None and eight_bit.file_size > big.file_size
    # An 8B model at 4 bits is about 4.9 GB on disk (published Q4_K_M files: 4.6-4.9 GB).
    assert 4.3e9 < big.file_size < 5.2e9
    assert price_entry(CATALOG[5], 64 * GIB) is None


def test_the_real_catalog_yields_three_on_a_16_gib_machine() -> None:
    got = suggest_models(load_catalog(), 16 * GIB)
    assert len(got) == 3
    assert len({s.entry.family for s in got}) == 3


@pytest.mark.parametrize(
    ("available_gib", "name"),
    [(0.3, None), (2, "Qwen2.5 0.5B"), (8, "Llama 3.1 8B"), (200, "Llama 3.1 70B")],
)
def test_largest_fitting(available_gib: float, name: str | None) -> None:
    model = largest_fitting(int(available_gib * GIB))
    assert (model.name if model else None) == name
