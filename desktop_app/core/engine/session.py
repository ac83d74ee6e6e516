"""What the worker does with each request: one loaded model and the requests that use it.

Runs on the worker's main thread, one request at a time. ``RequestState`` is shared with the
thread that reads the pipe, which must be able to cancel the running request and refuse a second
generate request while the main thread is busy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from desktop_app.core import llama_backend
from desktop_app.core.engine.errors import EngineError
from desktop_app.core.engine.generation import (
    GenerationRun,
    ThreadSetter,
    TokenReader,
    generate,
)
from desktop_app.core.engine.loader import LoadedModel, load_model
from desktop_app.core.engine.prompt import PromptBuilder, reply_reserve
from desktop_app.core.engine.protocol import (
    TERMINAL_EVENTS,
    CountChatTokensRequest,
    DetokenizeRequest,
    Done,
    ErrorCode,
    Event,
    Failed,
    GenerateRequest,
    GenerationStats,
    Loaded,
    LoadProgress,
    LoadRequest,
    Notice,
    Scored,
    ScoreRequest,
    Text,
    TokenizeRequest,
    Tokens,
    Unloaded,
    UnloadRequest,
)
from desktop_app.core.engine.scoring import score_tokens, vocab_digest

log = logging.getLogger(__name__)


_PROGRESS_STEP = 0.02  # at most ~50 LoadProgress events per load


class RequestState:
    """Which request runs, whether it is cancelled, and whether a generation is under way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: int | None = None
        self._last_begun = 0
        self._early: set[int] = set()  # cancels for requests still queued
        self._generating: int | None = None
        self.stopping = False
        # Read per token without the lock: a bool read is atomic under the GIL.
        self.cancel_flag = False

    def cancelled(self) -> bool:
        return self.cancel_flag

    def begin(self, request_id: int) -> None:
        with self._lock:
            self._current = request_id
            self._last_begun = max(self._last_begun, request_id)
            self.cancel_flag = self.stopping or request_id in self._early
            self._early.discard(request_id)

    def end(self, request_id: int) -> None:
        with self._lock:
            self._current = None
            self.cancel_flag = False
            if self._generating == request_id:
                self._generating = None

    def cancel(self, request_id: int) -> None:
        """``request_id`` 0 cancels whatever runs."""
        with self._lock:
            if self._current is not None and request_id in (0, self._current):
                self.cancel_flag = True
            elif request_id > self._last_begun:
                self._early.add(request_id)

    def stop(self) -> None:
        """Shutdown or parent gone: cancel what runs and everything still queued."""
        with self._lock:
            self.stopping = True
            if self._current is not None:
                self.cancel_flag = True

    def reserve_generation(self, request_id: int) -> bool:
        with self._lock:
            if self._generating is not None:
                return False
            self._generating = request_id
            return True


class ModelSession:
    def __init__(self, emit: Callable[[Event], None], state: RequestState) -> None:
        self._send = emit
        self._state = state
        self._current = 0
        self._model: LoadedModel | None = None
        self._builder: PromptBuilder | None = None
        self._reader: TokenReader | None = None
        self._threads: ThreadSetter | None = None
        self._vocab_digest: str | None = None  # computed on the first score request
        self._load_errors: list[str] = []
        self._loading = False
        llama_backend.add_log_listener(self._on_native_log)

    def _emit(self, event: Event) -> None:
        # The request is over before the app can see its end: a client that sends the next
        # generate request right after a Done must not be told BUSY.
        if isinstance(event, TERMINAL_EVENTS) and event.request_id == self._current:
            self._state.end(self._current)
        self._send(event)

    def _on_native_log(self, level: int, line: str) -> None:
        if self._loading and level >= logging.ERROR:
            self._load_errors.append(line.strip())

    def _load_error(self) -> str:
        """llama.cpp's reason: its last error line, skipping the generic "failed to load" ones."""
        specific = [e for e in self._load_errors if not e.endswith("failed to load model")]
        return (specific or self._load_errors or [""])[-1]

    def close(self) -> None:
        self._unload()
        llama_backend.remove_log_listener(self._on_native_log)

    def handle(self, request: Any, received_at: float) -> None:
        rid = int(getattr(request, "request_id", 0))
        self._current = rid
        self._state.begin(rid)
        try:
            if self._state.cancelled():
                self._answer_cancelled(request)
            else:
                self._dispatch(request, received_at)
        except EngineError as exc:
            self._emit(Failed(rid, exc.error_code, exc.detail, exc.facts))
        except Exception as exc:  # noqa: BLE001 - the worker must answer and stay up
            log.exception("request %s failed", type(request).__name__)
            code = (
                ErrorCode.GENERATION_FAILED
                if isinstance(request, GenerateRequest)
                else ErrorCode.BAD_REQUEST
            )
            self._emit(Failed(rid, code, f"{type(exc).__name__}: {exc}"))
        finally:
            self._state.end(rid)

    def _answer_cancelled(self, request: Any) -> None:
        rid = int(getattr(request, "request_id", 0))
        if isinstance(request, GenerateRequest):
            stats = GenerationStats(0, 0, 0.0, 0.0, 0.0, 0, "cancelled")
            self._emit(Done(rid, "", stats))
        else:
            self._emit(Failed(rid, ErrorCode.CANCELLED, "cancelled before it started"))

    def _dispatch(self, request: Any, received_at: float) -> None:
        rid = request.request_id
        if isinstance(request, LoadRequest):
            self._load(request)
        elif isinstance(request, UnloadRequest):
            self._unload()
            self._emit(Unloaded(rid))
        elif isinstance(request, GenerateRequest):
            self._generate(request, received_at)
        elif isinstance(request, TokenizeRequest):
            builder = self._require_builder()
            tokens = builder.tokenize(
                request.text, add_bos=request.add_bos, special=request.special
            )
            self._emit(Tokens(rid, tuple(tokens)))
        elif isinstance(request, DetokenizeRequest):
            self._detokenize(request)
        elif isinstance(request, CountChatTokensRequest):
            tokens, _rendered, _escaped = self._require_builder().chat_tokens(request.messages)
            self._emit(Tokens(rid, tuple(tokens)))
        elif isinstance(request, ScoreRequest):
            self._score(request)
        else:
            self._emit(Failed(rid, ErrorCode.BAD_REQUEST, f"unknown request {type(request)}"))

    def _require_builder(self) -> PromptBuilder:
        if self._builder is None:
            raise EngineError(ErrorCode.NOT_LOADED, "no model loaded")
        return self._builder

    def _load(self, request: LoadRequest) -> None:
        rid = request.request_id
        self._unload()
        self._load_errors.clear()
        sent = [-1.0]

        def progress(fraction: float) -> bool:
            if fraction - sent[0] >= _PROGRESS_STEP or (fraction >= 1.0 > sent[0]):
                sent[0] = fraction
                self._emit(LoadProgress(rid, fraction))
            return not self._state.cancelled()

        progress(0.0)
        self._loading = True
        try:
            model = load_model(
                request.settings,
                progress=progress,
                cancelled=self._state.cancelled,
                last_error=self._load_error,
            )
        finally:
            self._loading = False
        self._model = model
        self._builder = PromptBuilder(model.llm, model.vocab, model.formatter, model.info.bos_token)
        self._reader = TokenReader(model.llm, model.vocab)
        self._threads = ThreadSetter(model.llm, model.tuner) if model.tuner else None
        if model.template_error:
            self._emit(Notice(rid, "template_fallback", model.template_error))
        progress(1.0)
        self._emit(Loaded(rid, model.info))

    def _unload(self) -> None:
        model, self._model = self._model, None
        self._builder = None
        self._reader = None
        self._threads = None
        self._vocab_digest = None
        if model is not None:
            model.llm.close()  # frees weights, KV cache and context now, not at GC time

    def _detokenize(self, request: DetokenizeRequest) -> None:
        self._require_builder()
        assert self._model is not None
        n_vocab = self._model.info.n_vocab
        bad = [t for t in request.tokens if not 0 <= t < n_vocab]
        if bad:  # llama.cpp indexes its vocabulary unchecked: an invalid id would abort
            raise EngineError(ErrorCode.BAD_REQUEST, f"token ids out of range: {bad[:5]}")
        raw = self._model.llm.detokenize(list(request.tokens))
        self._emit(Text(request.request_id, raw.decode("utf-8", errors="replace")))

    def _score(self, request: ScoreRequest) -> None:
        self._require_builder()
        assert self._model is not None
        if self._vocab_digest is None:
            self._vocab_digest = vocab_digest(self._model.llm, self._model.vocab)
        rows, evaluated, seconds = score_tokens(
            self._model.llm,
            request,
            vocab_digest=self._vocab_digest,
            emit=self._emit,
            cancelled=self._state.cancelled,
        )
        self._emit(Scored(request.request_id, rows, evaluated, seconds, self._vocab_digest))

    def _generate(self, request: GenerateRequest, received_at: float) -> None:
        builder = self._require_builder()
        assert self._model is not None and self._reader is not None
        rid = request.request_id
        sp = request.sampling
        if sp.max_tokens < 1 or sp.top_logprobs < 0:
            raise EngineError(ErrorCode.BAD_REQUEST, "max_tokens >= 1 and top_logprobs >= 0")
        if (request.messages is None) == (request.prompt is None):
            raise EngineError(ErrorCode.BAD_REQUEST, "give either messages or a prompt")
        n_ctx = self._model.info.n_ctx
        budget = n_ctx - reply_reserve(sp.max_tokens, n_ctx)
        if request.messages is not None:
            prompt = builder.for_chat(request.messages, budget, n_ctx)
        else:
            prompt = builder.for_text(request.prompt or "", budget, n_ctx)
        if not prompt.tokens:  # an empty raw prompt on a model that adds no BOS
            raise EngineError(ErrorCode.BAD_REQUEST, "empty prompt")
        for code, detail in prompt.notices:
            self._emit(Notice(rid, code, detail))
        run = GenerationRun(
            request_id=rid,
            sampling=sp,
            emit=self._emit,
            cancelled=self._state.cancelled,
            received_at=received_at,
            dropped_messages=prompt.dropped_messages,
        )
        text, stats = generate(self._model.llm, self._reader, prompt.tokens, run, self._threads)
        self._emit(Done(rid, text, stats))
