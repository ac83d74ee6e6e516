"""Run a comparison: every variant in its own worker process, results reported as they come.

Chat mode (``spec.messages``): each pane generates its own greedy reply (streamed as PaneToken
events); then the reference's reply is fed to every variant (teacher forcing) and scored against
the reference's own distributions, so quality numbers compare the same text everywhere. Text
mode (``spec.text``): the text is cut into llama-perplexity chunks and scored the same way.

Parallel mode runs each pane in its own thread, all workers loaded at once, variants waiting on
the reference's rows chunk by chunk; sequential mode runs the reference first, then each variant,
unloading each worker before the next loads. Either way the pane results are the same data, and
they are cached (``cache.py``), so running the same comparison again shows the same view.

A pane that fails (crash, load failure, vocabulary mismatch) is reported in its result; the
others go on. ``cancelled()`` returning True stops every pane; workers are always shut down.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.compare.cache import ResultCache
from desktop_app.core.compare.plan import plan_run
from desktop_app.core.compare.results import (
    CompareEvent,
    CompareResult,
    CompareSpec,
    PaneFinished,
    PaneState,
    PaneStateChanged,
    PaneToken,
    PlanReady,
    RunFinished,
    RunMode,
    RunPlan,
    VariantResult,
)
from desktop_app.core.engine.client import SyncWorker
from desktop_app.core.engine.errors import (
    DoesNotFitError,
    EngineError,
    EngineTimeoutError,
    WorkerStoppedError,
)
from desktop_app.core.engine.protocol import (
    Done,
    ErrorCode,
    Event,
    Failed,
    GenerationStats,
    LoadProgress,
    LoadSettings,
    Scored,
    ScoreProgress,
    Text,
    Token,
    Tokens,
)
from desktop_app.core.quality.chunks import Chunk, continuation_chunk, perplexity_chunks
from desktop_app.core.quality.reference_rows import remove_rows
from desktop_app.core.quality.row_metrics import RowAccumulator, RowBlock
from desktop_app.core.quality.summary import reference_summary, summarize

log = logging.getLogger(__name__)

_WAIT_SLICE = 0.25  # seconds between cancel checks while waiting
_LOAD_TIMEOUT = 600.0
_SCORE_TIMEOUT = 3600.0


class _Stop(Exception):
    """The pane cannot go on: ``code``/``detail`` say why (CANCELLED for a cancel)."""

    def __init__(self, code: str, detail: str = "", facts: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.facts = dict(facts or {})


@dataclass
class _ReferenceBoard:
    """What variants need from the reference: the chunks scored and the file of each chunk's
    rows, published one by one; or the reason there will be none."""

    chunks: list[Chunk] = field(default_factory=list)
    ready: list[threading.Event] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    planned: threading.Event = field(default_factory=threading.Event)
    failed: str = ""


def _peak_rss(pid: int | None) -> int:
    """The worker's peak resident memory (VmHWM), 0 where the OS does not say."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _Pane:
    def __init__(self, run: _Run, index: int) -> None:
        self.run = run
        self.index = index
        self.info = run.plan.variants[index]
        self.is_reference = index == run.plan.reference
        self.tokens: list[Token] = []
        self.reply_ids: list[int] = []
        self.text = ""
        self.stats: GenerationStats | None = None
        self.peak = 0

    # --- helpers ------------------------------------------------------------------------------

    def state(self, state: PaneState, detail: str = "", fraction: float | None = None) -> None:
        self.run.emit(PaneStateChanged(self.index, state, detail, fraction))

    def wait(self, sw: SyncWorker, rid: int, timeout: float, on: Callable[[Event], None]) -> Any:
        deadline = time.monotonic() + timeout
        backlog: list[Event] = []
        while True:
            if self.run.cancelled():
                sw.worker.cancel(rid)
                raise _Stop(ErrorCode.CANCELLED.value, "cancelled")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Stop(ErrorCode.GENERATION_FAILED.value, "no answer from the worker")
            try:
                backlog = sw.wait(rid, timeout=min(_WAIT_SLICE, remaining), on_event=on)
            except EngineTimeoutError:  # a slice passed without the end: check cancel again
                continue
            last = backlog[-1]
            if isinstance(last, Failed):
                raise _Stop(last.code.value, last.detail, last.facts)
            return last

    # --- the steps ----------------------------------------------------------------------------

    def load(self, sw: SyncWorker) -> None:
        self.state(PaneState.LOADING, fraction=0.0)
        settings = LoadSettings(
            self.info.path,
            n_ctx=self.run.spec.n_ctx,
            n_threads=self.run.plan.threads,
            n_threads_batch=self.run.plan.threads_batch,
        )
        try:
            rid = sw.worker.load(settings, available=self.run.available)
        except DoesNotFitError as exc:
            raise _Stop(
                ErrorCode.DOES_NOT_FIT.value,
                str(exc),
                {"needed": exc.fit.total, "available": exc.fit.available},
            ) from exc

        def on(event: Event) -> None:
            if isinstance(event, LoadProgress):
                self.state(PaneState.LOADING, fraction=event.fraction)

        self.wait(sw, rid, _LOAD_TIMEOUT, on)

    def generate(self, sw: SyncWorker) -> None:
        spec = self.run.spec
        assert spec.messages is not None
        self.state(PaneState.GENERATING)

        def on(event: Event) -> None:
            if isinstance(event, Token):
                self.tokens.append(event)
                self.reply_ids.append(event.token_id)
                self.run.emit(PaneToken(self.index, event))

        done = self.wait(
            sw, sw.worker.generate(messages=spec.messages, sampling=spec.sampling), 3600.0, on
        )
        assert isinstance(done, Done)
        self.text, self.stats = done.text, done.stats
        if done.stats.finish_reason == "cancelled":
            raise _Stop(ErrorCode.CANCELLED.value, "cancelled")

    def reference_chunks(self, sw: SyncWorker) -> list[Chunk]:
        """The token sequences every variant scores, from the reference's point of view."""
        spec = self.run.spec
        if spec.messages is not None:
            prompt = self.wait(sw, sw.worker.count_chat_tokens(spec.messages), 60.0, _ignore)
            assert isinstance(prompt, Tokens)
            if not self.reply_ids:
                return []
            return [continuation_chunk(prompt.tokens, self.reply_ids)]
        assert spec.text is not None
        with_bos = self.wait(sw, sw.worker.tokenize(spec.text, add_bos=True), 120.0, _ignore)
        plain = self.wait(sw, sw.worker.tokenize(spec.text[:64], add_bos=False), 60.0, _ignore)
        assert isinstance(with_bos, Tokens) and isinstance(plain, Tokens)
        adds_bos = bool(with_bos.tokens) and (
            not plain.tokens or with_bos.tokens[: len(plain.tokens)] != plain.tokens
        )
        bos = with_bos.tokens[0] if adds_bos else None
        return perplexity_chunks(with_bos.tokens, spec.n_ctx, bos=bos, max_chunks=spec.max_chunks)

    def token_pieces(self, sw: SyncWorker, chunks: list[Chunk]) -> dict[int, str]:
        """The text of every distinct scored token, one detokenize each (a text of a few
        thousand tokens holds a few hundred distinct ones)."""
        pieces: dict[int, str] = {}
        for token in {t for c in chunks for t in c.tokens[c.first + 1 :]}:
            text = self.wait(sw, sw.worker.detokenize([token]), 30.0, _ignore)
            pieces[token] = text.text if isinstance(text, Text) else ""
        return pieces

    def score(self, sw: SyncWorker, board: _ReferenceBoard) -> tuple[RowBlock, float]:
        acc = RowAccumulator()
        total = sum(len(c.tokens) for c in board.chunks) or 1
        done_before = 0
        evaluated = 0
        seconds = 0.0
        for k, chunk in enumerate(board.chunks):
            if not self.is_reference:
                while not board.ready[k].wait(_WAIT_SLICE):
                    if self.run.cancelled():
                        raise _Stop(ErrorCode.CANCELLED.value, "cancelled")
                    if board.failed:
                        raise _Stop("reference_failed", board.failed)
            self.state(PaneState.SCORING, fraction=done_before / total)

            def on(event: Event, base: int = done_before) -> None:
                if isinstance(event, ScoreProgress):
                    self.state(PaneState.SCORING, fraction=(base + event.done) / total)

            path = str(board.paths[k])
            rid = sw.worker.score(
                chunk.tokens,
                first=chunk.first,
                top_k=self.run.spec.top_k,
                reference_out=path if self.is_reference else None,
                reference_in=None if self.is_reference else path,
            )
            scored = self.wait(sw, rid, _SCORE_TIMEOUT, on)
            assert isinstance(scored, Scored)
            acc.add(scored.rows)
            evaluated += scored.tokens_evaluated
            seconds += scored.seconds
            done_before += len(chunk.tokens)
            if self.is_reference:
                board.ready[k].set()
            else:
                self.run.release_chunk(k)
        return acc.joined(), (evaluated / seconds if seconds > 0 else 0.0)

    # --- the whole pane -----------------------------------------------------------------------

    def execute(self) -> VariantResult:
        board = self.run.board
        self.state(PaneState.WAITING)
        try:
            with SyncWorker(name=f"compare-{self.index}") as sw:
                self.load(sw)
                if self.run.spec.messages is not None:
                    self.generate(sw)
                if self.is_reference:
                    try:
                        chunks = self.reference_chunks(sw)
                    except _Stop as exc:
                        board.failed = exc.detail or exc.code
                        raise
                    self.run.publish(chunks)
                else:
                    while not board.planned.wait(_WAIT_SLICE):
                        if self.run.cancelled():
                            raise _Stop(ErrorCode.CANCELLED.value, "cancelled")
                    if board.failed:
                        raise _Stop("reference_failed", board.failed)
                rows, tps = (None, None)
                if board.chunks:
                    rows, tps = self.score(sw, board)
                if self.is_reference and self.run.spec.text is not None:
                    # After scoring, so variants never wait for it: heat strips need text.
                    self.run.pieces = self.token_pieces(sw, board.chunks)
                self.peak = _peak_rss(sw.worker.pid)
        except _Stop as exc:
            if self.is_reference:
                self.run.reference_failed(exc.detail or exc.code)
            return self.finish(exc.code, exc.detail, exc.facts)
        except (EngineError, WorkerStoppedError) as exc:
            if self.is_reference:
                self.run.reference_failed(str(exc))
            return self.finish(ErrorCode.WORKER_CRASHED.value, str(exc))
        summary = None
        if rows is not None:
            summary = reference_summary(rows) if self.is_reference else summarize(rows)
        return self.finish("", rows=rows, summary=summary, tps=tps)

    def finish(
        self,
        code: str,
        detail: str = "",
        facts: dict[str, Any] | None = None,
        *,
        rows: RowBlock | None = None,
        summary: Any = None,
        tps: float | None = None,
    ) -> VariantResult:
        peak = max(self.peak, self.stats.peak_rss_bytes if self.stats else 0)
        result = VariantResult(
            index=self.index,
            info=self.info,
            text=self.text,
            tokens=tuple(self.tokens),
            stats=self.stats,
            rows=rows,
            summary=summary,
            peak_rss_bytes=peak,
            eval_tps=tps,
            error_code=code,
            error_detail=detail,
            error_facts=dict(facts or {}),
        )
        if code == ErrorCode.CANCELLED.value:
            self.state(PaneState.CANCELLED)
        elif code:
            self.state(PaneState.FAILED, code)
        else:
            self.state(PaneState.DONE)
        self.run.emit(PaneFinished(result))
        return result


def _ignore(_event: Event) -> None:
    pass


class _Run:
    def __init__(
        self,
        spec: CompareSpec,
        plan: RunPlan,
        on_event: Callable[[CompareEvent], None],
        cancelled: Callable[[], bool],
        available: int | None,
        scratch: Path,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self._on_event = on_event
        self.cancelled = cancelled
        self.available = available
        self.scratch = scratch
        self.board = _ReferenceBoard()
        self.pieces: dict[int, str] = {}  # text mode: each scored token's text
        self._lock = threading.Lock()
        self._pending_readers: list[int] = []

    def emit(self, event: CompareEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a listener's bug must not stop the comparison
            log.exception("compare listener failed on %s", type(event).__name__)

    def publish(self, chunks: list[Chunk]) -> None:
        board = self.board
        board.chunks = chunks
        board.ready = [threading.Event() for _ in chunks]
        board.paths = [self.scratch / f"reference-{k}.npy" for k in range(len(chunks))]
        self._pending_readers = [len(self.spec.variants) - 1] * len(chunks)
        board.planned.set()

    def reference_failed(self, why: str) -> None:
        self.board.failed = why or "the reference failed"
        self.board.planned.set()

    def release_chunk(self, k: int) -> None:
        """A variant is done with chunk ``k``; the last one deletes its file (parallel mode
        then holds one chunk's rows on disk per lagging variant, not the whole text's)."""
        with self._lock:
            self._pending_readers[k] -= 1
            last = self._pending_readers[k] <= 0
        if last:
            remove_rows(self.board.paths[k])

    def execute(self) -> list[VariantResult]:
        n = len(self.spec.variants)
        ref = self.plan.reference
        results: dict[int, VariantResult] = {}

        def run_pane(i: int) -> None:
            results[i] = _Pane(self, i).execute()

        if self.plan.mode == RunMode.PARALLEL:
            threads = [
                threading.Thread(target=run_pane, args=(i,), name=f"compare-pane-{i}", daemon=True)
                for i in range(n)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            for i in [ref] + [i for i in range(n) if i != ref]:
                if self.cancelled():
                    results[i] = _Pane(self, i).finish(ErrorCode.CANCELLED.value, "cancelled")
                else:
                    run_pane(i)
        return [results[i] for i in range(n)]


def run_compare(
    spec: CompareSpec,
    *,
    on_event: Callable[[CompareEvent], None],
    cancelled: Callable[[], bool],
    cache_dir: Path | None = None,
    available: int | None = None,
    plan: RunPlan | None = None,
) -> CompareResult:
    """Run ``spec`` to the end (blocking); see the module docstring. With ``cache_dir``, a
    comparison already run with the same files (path, size, mtime), input, sampler and context
    is answered from the cache without starting any worker."""
    plan = plan or plan_run(spec, available=available)
    on_event(PlanReady(plan))
    cache = ResultCache(cache_dir) if cache_dir is not None else None
    cached = cache.lookup(spec, plan) if cache is not None else None
    if cached is not None:
        for v in cached.variants:
            on_event(PaneFinished(v))
        on_event(RunFinished(cached))
        return cached
    scratch = Path(tempfile.mkdtemp(prefix="quantdesk-compare-"))
    try:
        run = _Run(spec, plan, on_event, cancelled, available, scratch)
        variants = run.execute()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ref = variants[plan.reference]
    chunks = run.board.chunks
    scored = tuple(t for c in chunks for t in c.tokens[c.first + 1 :])
    if spec.messages is not None:
        texts = tuple(t.text for t in ref.tokens)
    else:
        texts = tuple(run.pieces.get(t, "") for t in scored) if run.pieces else ()
    result = CompareResult(
        spec=spec,
        plan=plan,
        variants=tuple(variants),
        scored_tokens=scored,
        scored_texts=texts,
        cancelled=cancelled(),
    )
    if cache is not None and not result.cancelled and not any(v.failed for v in variants):
        cache.store(result)
    on_event(RunFinished(result))
    return result
