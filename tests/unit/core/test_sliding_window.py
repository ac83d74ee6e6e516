"""Sliding-window layers as llama.cpp runs them, and the KV cache the fit estimate counts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from desktop_app.core.fit import MIB, LoadPlan, estimate_memory, kv_cache_bytes
from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.sliding_window import SlidingWindow, sliding_window
from desktop_app.core.synthetic_model import shape_with, write_model
from desktop_app.formatting import describe_sliding_window


def test_gemma3_slides_five_layers_in_six_when_the_file_gives_a_window() -> None:
    swa = sliding_window("gemma3", {"gemma3.attention.sliding_window": 1024}, 12)
    assert swa == SlidingWindow(1024, (True,) * 5 + (False,) + (True,) * 5 + (False,))
    # No window in the file (or 0): llama.cpp runs every layer on the whole context.
    assert sliding_window("gemma3", {}, 12) is None
    assert sliding_window("gemma3", {"gemma3.attention.sliding_window": 0}, 12) is None


def test_gemma2_slides_every_other_layer_with_its_default_window() -> None:
    swa = sliding_window("gemma2", {}, 4)
    assert swa == SlidingWindow(4096, (True, False, True, False))


def test_the_files_own_pattern_wins() -> None:
    # A bool per layer (what QuantDesk's converter writes) or a period of its own.
    md = {
        "gemma3.attention.sliding_window": 512,
        "gemma3.attention.sliding_window_pattern": (True, True, False, True),
    }
    assert sliding_window("gemma3", md, 4) == SlidingWindow(512, (True, True, False, True))
    md = {"cohere2.attention.sliding_window": 4096, "cohere2.attention.sliding_window_pattern": 2}
    assert sliding_window("cohere2", md, 4) == SlidingWindow(4096, (True, False, True, False))
    # A period of 0 means every layer slides.
    md = {"olmo2.attention.sliding_window": 256, "olmo2.attention.sliding_window_pattern": 0}
    assert sliding_window("olmo2", md, 3) == SlidingWindow(256, (True, True, True))


def test_architectures_llama_cpp_runs_without_a_window() -> None:
    # Phi-3 and Mistral files carry a window that llama.cpp does not apply; Llama has none.
    assert sliding_window("phi3", {"phi3.attention.sliding_window": 2047}, 32) is None
    assert sliding_window("llama", {"llama.attention.sliding_window": 4096}, 32) is None
    # A hostile header: nonsense types and counts are ignored, not trusted.
    assert sliding_window("gemma3", {"gemma3.attention.sliding_window": "1024"}, 12) is None
    assert sliding_window("gemma3", {"gemma3.attention.sliding_window": True}, 12) is None
    assert sliding_window("gemma3", {"gemma3.attention.sliding_window": 64}, None) is None


def test_window_cache_is_window_plus_a_micro_batch_padded_to_256() -> None:
    swa = SlidingWindow(1024, (True,))
    assert swa.cache_cells(32768, 512) == 1536
    assert swa.cache_cells(1024, 512) == 1024  # never more than the context itself
    assert SlidingWindow(100, (True,)).cache_cells(4096, 512) == 768


@pytest.fixture(scope="module")
def gemma3_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shape = shape_with(
        "tiny", architecture="gemma3", sliding_window=64, n_layer=6, tied_embeddings=True
    )
    return write_model(tmp_path_factory.mktemp("swa") / "gemma3.gguf", shape)


def test_fit_counts_the_window_cache_for_windowed_layers(gemma3_file: Path) -> None:
    facts = read_model_facts(gemma3_file)
    assert facts.swa == SlidingWindow(64, (True,) * 5 + (False,))
    # tiny: 2 KV heads x 64 dims x (K + V) x 2 bytes = 512 bytes per layer per cell.
    per_cell_layer = 2 * 64 * 2 * 2
    full = 4096 * per_cell_layer
    windowed = 768 * per_cell_layer  # 64 + 512, padded to 256
    assert kv_cache_bytes(facts, 4096) == 1 * full + 5 * windowed
    assert kv_cache_bytes(facts, 4096) == int(3.875 * MIB)  # what llama.cpp logs, 2 + 1.875
    # A bigger micro-batch keeps more cells, as in llama.cpp.
    assert kv_cache_bytes(facts, 4096, n_ubatch=1024) == full + 5 * 1280 * per_cell_layer
    assert estimate_memory(facts, LoadPlan(n_ctx=4096)).kv_cache == kv_cache_bytes(facts, 4096)
    assert facts.to_json()["sliding_window_layers"] == 5


def test_the_window_is_described_as_llama_cpp_applies_it(gemma3_file: Path) -> None:
    facts = read_model_facts(gemma3_file)
    assert describe_sliding_window(facts) == "64 tokens on 5 of 6 layers"
    phi3_like = replace(facts, swa=None, sliding_window=2047)
    assert describe_sliding_window(phi3_like) == "none (the file's 2,047 tokens are not applied)"
    assert describe_sliding_window(replace(facts, swa=None, sliding_window=None)) == "none"


def test_a_per_layer_pattern_in_the_file_is_read_back(tmp_path: Path) -> None:
    pattern = (True, False, False, True)
    shape = shape_with(
        "tiny",
        architecture="gemma3",
        sliding_window=128,
        n_layer=4,
        sliding_window_pattern=pattern,
    )
    facts = read_model_facts(write_model(tmp_path / "pattern.gguf", shape))
    assert facts.swa == SlidingWindow(128, pattern)
