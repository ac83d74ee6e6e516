"""Sliding-window models in the engine: llama.cpp's small window cache, counted by the fit
estimate to the byte, and never a reply computed on positions the window has let go."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from desktop_app.core import llama_backend
from desktop_app.core.engine.client import SyncWorker
from desktop_app.core.engine.loader import load_model
from desktop_app.core.engine.protocol import SAMPLING_PRESETS, Done, Loaded, LoadSettings, Token
from desktop_app.core.fit import MIB, kv_cache_bytes
from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.synthetic_model import shape_with, write_model

WINDOW = 64
N_CTX = 2048
PRECISE = SAMPLING_PRESETS["Precise"]


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shape = shape_with(
        "tiny", architecture="gemma3", sliding_window=WINDOW, n_layer=6, tied_embeddings=True
    )
    return write_model(tmp_path_factory.mktemp("swa") / "gemma3-swa.gguf", shape)


@pytest.fixture
def native_log() -> Iterator[list[str]]:
    lines: list[str] = []

    def listen(_level: int, text: str) -> None:
        lines.append(text)

    llama_backend.add_log_listener(listen)
    yield lines
    llama_backend.remove_log_listener(listen)


@pytest.mark.parametrize(
    "pattern",
    [(), (True, False, False, True, True, False)],
    ids=["gemma3-default", "pattern-in-file"],
)
def test_engine_keeps_a_window_cache_and_the_estimate_counts_it(
    pattern: tuple[bool, ...], tmp_path: Path, native_log: list[str]
) -> None:
    shape = shape_with(
        "tiny",
        architecture="gemma3",
        sliding_window=WINDOW,
        n_layer=6,
        tied_embeddings=True,
        sliding_window_pattern=pattern,
    )
    path = write_model(tmp_path / "gemma3.gguf", shape)
    windowed = sum(pattern) if pattern else 5
    loaded = load_model(
        LoadSettings(str(path), n_ctx=N_CTX),
        progress=lambda _f: True,
        cancelled=lambda: False,
        last_error=lambda: "",
    )
    try:
        assert loaded.llm.window == WINDOW
    finally:
        loaded.llm.close()
    text = "".join(native_log)
    # One cache for the full-context layers, one for the windowed layers (64 + 512 cells,
    # padded to 256), as llama.cpp logs them.
    caches = re.findall(r"size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers", text)
    cells_layers = [(int(cells), int(layers)) for _mib, cells, layers in caches]
    assert cells_layers == [(N_CTX, 6 - windowed), (768, windowed)]
    logged = sum(float(mib) for mib, _cells, _layers in caches)
    estimated = kv_cache_bytes(read_model_facts(path), N_CTX)
    assert estimated == pytest.approx(logged * MIB, abs=0.01 * MIB)
    # A whole-context cache on every layer would need much more.
    assert estimated < 0.75 * (N_CTX * 6 * 2 * 64 * 2 * 2)


def _words(n: int, offset: int = 0) -> str:
    vocabulary = "the model token weight bit quant memory fast small large hello world".split()
    return " ".join(vocabulary[(i * 7 + offset) % len(vocabulary)] for i in range(n))


def _load(sw: SyncWorker, path: Path) -> None:
    loaded = sw.wait(sw.worker.load(LoadSettings(str(path), n_ctx=N_CTX)))[-1]
    assert isinstance(loaded, Loaded), loaded


def _reply(sw: SyncWorker, prompt: str, n: int = 8) -> list[tuple[int, float]]:
    events = sw.wait(sw.worker.generate(prompt=prompt, sampling=replace(PRECISE, max_tokens=n)))
    assert isinstance(events[-1], Done), events[-1]
    return [(e.token_id, e.prob) for e in events if isinstance(e, Token)]


def test_a_prefix_the_window_has_lost_is_evaluated_again(gemma3: Path) -> None:
    long_prompt = _words(300)  # about 900 tokens
    head = " ".join(long_prompt.split()[:20])
    follow_up = head + " " + _words(15, offset=3)
    with SyncWorker() as fresh:
        _load(fresh, gemma3)
        expected = _reply(fresh, follow_up)
    with SyncWorker() as sw:
        _load(sw, gemma3)
        _reply(sw, long_prompt, n=2)  # the window cache now starts far past the shared head
        _same(_reply(sw, follow_up), expected)
        # The same prompt again reuses the cache, and still answers the same.
        _same(_reply(sw, follow_up), expected)


def _same(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    # Decoded on a cache that had lost the head, the first probability is off by about 0.1;
    # evaluated again, it differs only by float rounding (the cache cells are in another order).
    assert [token for token, _p in got] == [token for token, _p in expected]
    assert [p for _t, p in got] == pytest.approx([p for _t, p in expected], abs=1e-3)
