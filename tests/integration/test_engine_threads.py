"""Automatic thread counts: the tuner's choice reaches llama.cpp, and a set count stays put.

The tuner's decisions are tested on simulated machines (unit/core/test_thread_tuner.py); here
the real parts: ``ThreadSetter`` changes the counts llama.cpp's context reports, a worker with
automatic threads tunes and says which count it ended with, and one with a count set does not.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop_app.core import llama_backend
from desktop_app.core.engine.client import SyncWorker
from desktop_app.core.engine.generation import ThreadSetter
from desktop_app.core.engine.native import engine_llama_class
from desktop_app.core.engine.protocol import (
    SAMPLING_PRESETS,
    ChatMessage,
    Done,
    Loaded,
    LoadSettings,
)
from desktop_app.core.engine.thread_tuner import ThreadTuner
from desktop_app.core.hardware import default_threads

pytestmark = pytest.mark.integration


def test_thread_setter_changes_what_llama_cpp_uses(tiny_gguf: Path) -> None:
    lc = llama_backend.llama()
    llm = engine_llama_class()(
        str(tiny_gguf), n_ctx=256, n_threads=2, n_threads_batch=2, verbose=True
    )
    try:
        tuner = ThreadTuner((2, 1))
        setter = ThreadSetter(llm, tuner)
        setter.apply(1)  # probing one thread while 2 is best: prompts keep both cores
        assert (lc.llama_n_threads(llm.ctx), lc.llama_n_threads_batch(llm.ctx)) == (1, 2)
        tuner.best = 1  # one thread won: prompts follow
        setter.apply(1)
        assert (lc.llama_n_threads(llm.ctx), lc.llama_n_threads_batch(llm.ctx)) == (1, 1)
        tuner.best = 2
        setter.apply(2)
        assert (lc.llama_n_threads(llm.ctx), lc.llama_n_threads_batch(llm.ctx)) == (2, 2)
        # Generation still works after the switches.
        out = llm.create_completion("Hello", max_tokens=4, temperature=0.0)
        assert out["usage"]["completion_tokens"] >= 1
    finally:
        llm.close()


def _reply(sw: SyncWorker, n: int) -> Done:
    sampling = dataclasses.replace(SAMPLING_PRESETS["Precise"], max_tokens=n)
    events = sw.wait(
        sw.worker.generate(messages=(ChatMessage("user", "Count on"),), sampling=sampling)
    )
    done = events[-1]
    assert isinstance(done, Done), done
    return done


@pytest.mark.skipif(default_threads() < 2, reason="one core: nothing to choose between")
def test_automatic_threads_are_tuned_and_reported(tiny_gguf: Path) -> None:
    with SyncWorker() as sw:
        loaded = sw.wait(sw.worker.load(LoadSettings(str(tiny_gguf), n_ctx=1024)))[-1]
        assert isinstance(loaded, Loaded) and loaded.info.threads_auto
        cores = default_threads()
        done = _reply(sw, 48)
        assert done.stats.generated_tokens >= 2
        assert done.stats.threads in (cores, cores - 1)


def test_a_thread_count_the_user_set_is_kept(tiny_gguf: Path) -> None:
    with SyncWorker() as sw:
        loaded = sw.wait(sw.worker.load(LoadSettings(str(tiny_gguf), n_ctx=1024, n_threads=1)))[-1]
        assert isinstance(loaded, Loaded) and not loaded.info.threads_auto
        assert loaded.info.n_threads == 1
        done = _reply(sw, 48)
        assert done.stats.threads == 1
