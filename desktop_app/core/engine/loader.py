"""Loading a model inside the worker: pre-check the file, choose the settings, call llama.cpp.

The engine's choices (each measured in ../shared/reference/backend-notes.md):

* The GGUF header is validated in Python before llama.cpp reads the file, so a damaged or hostile
  header ends in FILE_INVALID with a precise problem instead of whatever the C parser does.
* No mmap unless asked (``fit.LoadPlan``): the weights are read into the worker's own memory,
  which the worker's malloc backs with huge pages (engine/huge_pages.py). Generation reads them
  faster there than through the file's page-cache mapping, a repacked copy is not held next to
  a mapped original, and a model file replaced or truncated on disk cannot fault the worker.
* Sliding-window layers (Gemma 2 and 3, gpt-oss, ...) get llama.cpp's small window cache, not
  one as long as the context: Gemma 3 at 32k tokens needs a fraction of the KV memory.
  ``EngineLlama.generate`` re-evaluates a prompt whose cached prefix the window has lost.
* ``verbose=True`` on purpose: ``verbose=False`` makes llama-cpp-python dup2 fds 1 and 2 to
  /dev/null process-wide during loads (section 7). llama.cpp's own log goes through
  ``llama_backend``'s callback instead, and the worker routes Python's stdio to logging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from desktop_app.core import llama_backend
from desktop_app.core.chat_template import FALLBACK, ChatFormatter
from desktop_app.core.engine.errors import EngineError
from desktop_app.core.engine.huge_pages import huge_page_bytes
from desktop_app.core.engine.native import engine_llama_class
from desktop_app.core.engine.protocol import ChatMessage, ErrorCode, LoadSettings, ModelInfo
from desktop_app.core.engine.thread_tuner import OtherLoad, ThreadTuner
from desktop_app.core.errors import FileAccessError
from desktop_app.core.fit import LoadPlan, estimate_memory
from desktop_app.core.gguf_file import GGUFError, read_gguf_header
from desktop_app.core.hardware import default_threads
from desktop_app.core.model_facts import facts_from_header

log = logging.getLogger(__name__)

# ggml type ids for the KV cache (ggml.h: GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, Q8_0 = 8).
KV_TYPES: dict[str, int] = {"f16": 1, "q8_0": 8, "q4_0": 2}


@dataclass
class LoadedModel:
    llm: Any  # EngineLlama
    vocab: Any  # llama_vocab_p
    info: ModelInfo
    formatter: ChatFormatter
    template_error: str  # why the model's template is not used ("" when it is)
    tuner: ThreadTuner | None = None  # automatic thread counts only


@dataclass(frozen=True)
class ThreadChoice:
    n_threads: int
    n_threads_batch: int
    candidates: tuple[int, ...]  # generation counts the tuner may choose from; one: fixed


def resolve_threads(settings: LoadSettings) -> ThreadChoice:
    """Automatic (neither count set): start with every physical core for both, as llama-bench
    does (Llama's own default, half the cores, loses 20-30%: performance.md), and let the
    worker's ThreadTuner move generation between that and one core fewer, which wins 2.5x while
    another process keeps a core busy (benchmarks/RESULTS.md). A count the user set is kept."""
    cores = default_threads()  # the physical cores
    if settings.n_threads is None and settings.n_threads_batch is None:
        return ThreadChoice(cores, cores, tuple(dict.fromkeys((cores, max(1, cores - 1)))))
    n_threads = max(1, settings.n_threads or cores)
    n_threads_batch = max(1, settings.n_threads_batch or cores)
    return ThreadChoice(n_threads, n_threads_batch, (n_threads,))


def _token_text(lc: Any, vocab: Any, token: int) -> str:
    if token < 0:
        return ""
    raw = lc.llama_vocab_get_text(vocab, token)
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw or "")


def load_model(
    settings: LoadSettings,
    *,
    progress: Callable[[float], bool],
    cancelled: Callable[[], bool],
    last_error: Callable[[], str],
) -> LoadedModel:
    """Load ``settings.path``; raises EngineError (FILE_INVALID, LOAD_FAILED, BAD_REQUEST,
    CANCELLED). ``progress(fraction)`` returning False aborts the load."""
    if settings.kv_type not in KV_TYPES:
        raise EngineError(ErrorCode.BAD_REQUEST, f"kv_type {settings.kv_type!r}")
    if settings.n_ctx < 1 or settings.n_batch < 1 or settings.n_ubatch < 1:
        raise EngineError(ErrorCode.BAD_REQUEST, "n_ctx, n_batch and n_ubatch must be positive")
    try:
        header = read_gguf_header(settings.path)
    except GGUFError as exc:
        raise EngineError(ErrorCode.FILE_INVALID, str(exc), {"problem": exc.problem.value}) from exc
    except FileAccessError as exc:
        raise EngineError(ErrorCode.FILE_INVALID, exc.detail, {"problem": exc.code}) from exc
    facts = facts_from_header(header, settings.path)
    plan = LoadPlan(
        n_ctx=settings.n_ctx,
        kv_type=settings.kv_type,
        flash_attn=settings.flash_attn,
        n_batch=settings.n_batch,
        n_ubatch=settings.n_ubatch,
        use_mmap=settings.use_mmap,
    )
    use_mmap = estimate_memory(facts, plan, llama_backend.cpu_features()).use_mmap
    threads = resolve_threads(settings)
    n_threads, n_threads_batch = threads.n_threads, threads.n_threads_batch

    lc = llama_backend.llama()  # before Llama(): routes llama.cpp's log into logging
    started = time.perf_counter()
    try:
        llm = engine_llama_class()(
            settings.path,
            progress=progress,
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            n_ubatch=settings.n_ubatch,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            flash_attn=settings.flash_attn,
            type_k=KV_TYPES[settings.kv_type],
            type_v=KV_TYPES[settings.kv_type],
            use_mmap=use_mmap,
            use_mlock=settings.use_mlock,
            n_gpu_layers=settings.n_gpu_layers,
            swa_full=False,  # sliding-window layers keep only their window (sliding_window.py)
            seed=settings.seed,
            verbose=True,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        if cancelled():
            raise EngineError(ErrorCode.CANCELLED, "load cancelled") from exc
        raise EngineError(ErrorCode.LOAD_FAILED, last_error() or str(exc)) from exc
    load_seconds = time.perf_counter() - started

    vocab = lc.llama_model_get_vocab(llm.model)
    bos_text = _token_text(lc, vocab, llm.token_bos())
    eos_text = _token_text(lc, vocab, llm.token_eos())
    raw_template = header.get("tokenizer.chat_template")
    formatter = ChatFormatter(
        raw_template if isinstance(raw_template, str) else None,
        bos_token=bos_text,
        eos_token=eos_text,
    )
    # One trial render decides what the model card says; a template that cannot format a plain
    # user turn is not used at all (the same fallback every time rather than now and then).
    trial = formatter.render([ChatMessage("user", "Hello")])
    template_error = trial.error if trial.source == FALLBACK else ""
    if trial.source == FALLBACK and formatter.source != FALLBACK:
        formatter = ChatFormatter(None, bos_token=bos_text, eos_token=eos_text)

    info = ModelInfo(
        path=settings.path,
        n_ctx=int(llm.n_ctx()),
        n_ctx_train=int(lc.llama_model_n_ctx_train(llm.model)),
        n_vocab=int(llm.n_vocab()),
        n_threads=n_threads,
        n_threads_batch=n_threads_batch,
        use_mmap=use_mmap,
        flash_attn=settings.flash_attn,
        kv_type=settings.kv_type,
        chat_template=trial.source,
        bos_token=bos_text,
        eos_token=eos_text,
        load_seconds=load_seconds,
        rss_bytes=int(psutil.Process().memory_info().rss),
        threads_auto=len(threads.candidates) > 1,
        huge_page_bytes=huge_page_bytes(),
    )
    tuner = ThreadTuner(threads.candidates, OtherLoad()) if len(threads.candidates) > 1 else None
    return LoadedModel(llm, vocab, info, formatter, template_error, tuner)
