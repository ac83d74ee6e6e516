"""The token loop: sample, detokenize incrementally, stop, measure (backend notes section 5).

``create_chat_completion`` is not used: its chunks are not tokens (stop-string prefixes and split
UTF-8 are held back invisibly) and it re-detokenizes the whole reply per token (O(n^2)). Here:

* ``Llama.generate`` samples (llama.cpp's sampler chain, the same as a direct ``Llama``) and
  reuses the KV cache of a shared prompt prefix, so a chat's earlier turns are not recomputed;
* each token's bytes come from ``llama_token_to_piece`` and go through an incremental UTF-8
  decoder, then through ``StopBuffer``, which holds back only text that could begin a stop
  string. Every Token event carries the text it released, so the Token texts concatenate to
  Done.text (text still held when a reply is cancelled is dropped from both);
* the chosen token's probability, and the top-k alternatives when asked, come from the logits of
  the last position (one numpy softmax over the vocabulary, tens of microseconds);
* a cancel is checked between tokens; during the prompt, the abort callback (native.py) stops
  the decode itself;
* with automatic threads, every token's interval goes to the model's ``ThreadTuner``, and its
  answer is applied between tokens with ``llama_set_n_threads`` (a field write in llama.cpp).
"""

from __future__ import annotations

import codecs
import ctypes
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from desktop_app.core import llama_backend
from desktop_app.core.engine.errors import EngineError
from desktop_app.core.engine.protocol import (
    ErrorCode,
    Event,
    GenerationStats,
    SamplingParams,
    Token,
    TopToken,
)
from desktop_app.core.engine.thread_tuner import ThreadTuner


class StopBuffer:
    """Releases text as soon as it cannot be the beginning of a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def push(self, text: str) -> tuple[str, bool]:
        """Add ``text``; return (text now safe to show, whether a stop string was reached).
        When stopped, the stop string and anything after it are discarded."""
        if not self._stops:
            return text, False
        buf = self._held + text
        hits = [i for i in (buf.find(s) for s in self._stops) if i != -1]
        if hits:
            self._held = ""
            return buf[: min(hits)], True
        keep = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buf)), keep, -1):
                if buf.endswith(stop[:n]):
                    keep = n
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


@dataclass
class GenerationRun:
    """Everything the loop needs besides the tokens; built per request by the session."""

    request_id: int
    sampling: SamplingParams
    emit: Callable[[Event], None]
    cancelled: Callable[[], bool]
    received_at: float  # perf_counter() when the request arrived
    dropped_messages: int = 0


class TokenReader:
    """Per-model helpers: token bytes, end-of-generation, probabilities from the last logits."""

    def __init__(self, llm: Any, vocab: Any) -> None:
        self._lc = llama_backend.llama()
        self._llm = llm
        self._vocab = vocab
        self._n_vocab = int(llm.n_vocab())
        self._buf = ctypes.create_string_buffer(256)
        self._exp = np.empty(self._n_vocab, dtype=np.float32)
        self._work = np.empty(self._n_vocab, dtype=np.float32)

    def piece(self, token: int) -> bytes:
        n = self._lc.llama_token_to_piece(self._vocab, token, self._buf, len(self._buf), 0, False)
        if n < 0:  # buffer too small: llama.cpp says how much it needs
            self._buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, self._buf, -n, 0, False)
        return bytes(self._buf.raw[: max(0, n)])

    def is_eog(self, token: int) -> bool:
        return bool(self._lc.llama_vocab_is_eog(self._vocab, token))

    def probabilities(self, token: int, top_k: int) -> tuple[float, tuple[TopToken, ...]]:
        ptr = self._lc.llama_get_logits_ith(self._llm.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
        exp = self._exp
        np.subtract(logits, logits.max(), out=exp)
        np.exp(exp, out=exp)
        total = float(exp.sum())
        prob = float(exp[token]) / total
        if top_k <= 0:
            return prob, ()
        top = tuple(
            TopToken(
                int(i), self.piece(int(i)).decode("utf-8", errors="replace"), float(exp[i]) / total
            )
            for i in self._top_ids(logits, min(top_k, self._n_vocab))
        )
        return prob, top

    def _top_ids(self, logits: np.ndarray[Any, Any], k: int) -> list[int]:
        """The k largest logits, best first. For the few alternatives a UI shows, k argmax
        passes (SIMD, a few microseconds each) beat argpartition (~230 us on 32k floats)."""
        if k > 32:
            idx = np.argpartition(logits, -k)[-k:]
            return [int(i) for i in idx[np.argsort(-logits[idx], kind="stable")]]
        work = self._work
        np.copyto(work, logits)
        ids = []
        for _ in range(k):
            i = int(work.argmax())
            ids.append(i)
            work[i] = -np.inf
        return ids


def peak_rss() -> int:
    """This process's peak RSS in bytes."""
    if sys.platform == "win32":
        return int(getattr(psutil.Process().memory_info(), "peak_wset", 0))
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage if sys.platform == "darwin" else usage * 1024)  # macOS: bytes; else KiB


class ThreadSetter:
    """Applies a tuner's choices to a context, calling llama.cpp only when they change."""

    def __init__(self, llm: Any, tuner: ThreadTuner) -> None:
        self._lc = llama_backend.llama()
        self._llm = llm
        self.tuner = tuner
        self._top = max(tuner.candidates)
        self._applied: tuple[int, int] | None = None

    def apply(self, threads: int) -> None:
        # Prompt batches follow too: every core while that is best for generation, else the
        # same count (a busy core slows both alike).
        best = self.tuner.best
        wanted = (threads, self._top if best == self._top else best)
        if wanted != self._applied:
            self._lc.llama_set_n_threads(self._llm.ctx, *wanted)
            self._applied = wanted


def generate(
    llm: Any,
    reader: TokenReader,
    tokens: list[int],
    run: GenerationRun,
    threads: ThreadSetter | None = None,
) -> tuple[str, GenerationStats]:
    """Run one reply; emits Token events through ``run.emit``; returns (text, stats)."""
    sp = run.sampling
    n_ctx = int(llm.n_ctx())
    limit = min(sp.max_tokens, n_ctx - len(tokens))
    seed = sp.seed if sp.seed is not None else random.SystemRandom().randrange(2**31)
    llm.set_seed(seed)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    stops = StopBuffer(sp.stop)
    parts: list[str] = []
    n_generated = 0
    finish = "length"
    t_first = t_last = prompt_seconds = prompt_decode = 0.0
    prompt_evaluated = 0

    if limit <= 0:
        raise EngineError(ErrorCode.PROMPT_TOO_LONG, "no room left for a reply")
    llm.abort_check = run.cancelled
    if threads is not None:
        threads.apply(threads.tuner.current)
    evaluated_before = llm.tokens_evaluated
    decode_before, steps_before, step_before = llm.decode_seconds, llm.steps, llm.step_seconds
    started = time.perf_counter()
    stream = llm.generate(
        tokens,
        top_k=sp.top_k,
        top_p=sp.top_p,
        min_p=sp.min_p,
        temp=sp.temperature,
        repeat_penalty=sp.repeat_penalty,
        reset=True,
    )
    try:
        for token in stream:
            now = time.perf_counter()
            if n_generated == 0:
                t_first = now
                prompt_seconds = now - started
                prompt_evaluated = llm.tokens_evaluated - evaluated_before
                prompt_decode = llm.decode_seconds - decode_before
            elif threads is not None:
                threads.apply(threads.tuner.record(now - t_last))
            t_last = now
            n_generated += 1
            prob, top = reader.probabilities(token, sp.top_logprobs)
            if reader.is_eog(token):
                text, stopped = stops.push(decoder.decode(b"", final=True))
                text += "" if stopped else stops.flush()
                finish, last = "stop", True
            else:
                text, stopped = stops.push(decoder.decode(reader.piece(token)))
                last = stopped or n_generated >= limit
                finish = "stop" if stopped else "length"
                if last and not stopped:
                    tail, stopped = stops.push(decoder.decode(b"", final=True))
                    text += tail + ("" if stopped else stops.flush())
                    finish = "stop" if stopped else "length"
            parts.append(text)
            run.emit(Token(run.request_id, int(token), text, prob, top))
            if last:
                break
            if run.cancelled():
                finish = "cancelled"
                break
        else:
            finish = "stop"
    except RuntimeError as exc:  # llama_decode failed; code 2 = our abort callback
        llm.reset()  # the KV cache is in an unknown state: start clean next time
        if not run.cancelled():
            raise EngineError(ErrorCode.GENERATION_FAILED, str(exc)) from exc
        finish = "cancelled"
    finally:
        stream.close()
        llm.abort_check = None

    gen_seconds = t_last - t_first
    stats = GenerationStats(
        prompt_tokens=len(tokens),
        generated_tokens=n_generated,
        ttft_s=(t_first - run.received_at) if n_generated else 0.0,
        prompt_tps=prompt_evaluated / prompt_seconds if prompt_seconds > 0 else 0.0,
        gen_tps=(n_generated - 1) / gen_seconds if n_generated > 1 and gen_seconds > 0 else 0.0,
        rss_bytes=int(psutil.Process().memory_info().rss),
        finish_reason=finish,
        dropped_messages=run.dropped_messages,
        peak_rss_bytes=peak_rss(),
        threads=threads.tuner.best if threads is not None else _fixed_threads(llm),
        prompt_decode_tps=_rate(prompt_evaluated, prompt_decode),
        gen_decode_tps=_rate(llm.steps - steps_before, llm.step_seconds - step_before),
    )
    return "".join(parts), stats


def _fixed_threads(llm: Any) -> int:
    return int(getattr(llm, "n_threads", 0) or 0)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if count > 0 and seconds > 0 else 0.0
