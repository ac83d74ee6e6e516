"""Teacher-forced scoring inside the worker: evaluate a token sequence, score each position.

llama.cpp's batch API is used directly (backend notes section 4, method B): the sequence is
decoded from an empty context in pieces, with logits requested only for the scored positions, and
each piece's logits (``llama_get_logits``: outputs x vocabulary) are scored with numpy while they
are still in llama.cpp's buffer. So the extra memory is one piece's logits, never the whole
sequence x vocabulary; pieces are sized so that buffer stays near ``_LOGIT_BUDGET`` floats.

The reference run writes its log-probabilities to a memory-mapped file; a variant reads the same
rows back (``quality/reference_rows.py``). Afterwards the context is cleared and ``Llama`` told
its cache is empty, so the next generation does not reuse a prefix that is no longer there.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core import llama_backend
from desktop_app.core.engine.errors import EngineError
from desktop_app.core.engine.protocol import ErrorCode, Event, ScoreProgress, ScoreRequest
from desktop_app.core.quality import reference_rows as refrows
from desktop_app.core.quality.row_metrics import RowAccumulator, RowBlock, score_rows

_LOGIT_BUDGET = 1 << 25  # floats of logits per decode (128 MiB): ~220 rows at a 152k vocabulary
_MIN_PIECE = 32
_DISK_MARGIN = 256 * 1024 * 1024


def vocab_digest(llm: Any, vocab: Any) -> str:
    """A digest of every token's text and the vocabulary size: two models with the same digest
    tokenize alike, so their distributions can be compared position by position."""
    lc = llama_backend.llama()
    n_vocab = int(llm.n_vocab())
    h = hashlib.sha256(str(n_vocab).encode())
    for token in range(n_vocab):
        raw = lc.llama_vocab_get_text(vocab, token)
        h.update(raw if isinstance(raw, bytes) else b"")
        h.update(b"\0")
    return h.hexdigest()


def _piece_size(n_batch: int, n_vocab: int) -> int:
    return max(_MIN_PIECE, min(n_batch, _LOGIT_BUDGET // max(1, n_vocab)))


def _check_request(request: ScoreRequest, n_ctx: int, n_vocab: int) -> None:
    tokens = request.tokens
    if len(tokens) < 2 or not 0 <= request.first < len(tokens) - 1:
        raise EngineError(
            ErrorCode.BAD_REQUEST, "scoring needs at least two tokens and 0 <= first < n - 1"
        )
    if len(tokens) > n_ctx:
        raise EngineError(
            ErrorCode.PROMPT_TOO_LONG,
            f"{len(tokens)} tokens to score, the context holds {n_ctx}",
            {"tokens": len(tokens), "n_ctx": n_ctx},
        )
    if min(tokens) < 0 or max(tokens) >= n_vocab:  # llama.cpp would index out of bounds
        raise EngineError(ErrorCode.BAD_REQUEST, "token id outside the vocabulary")
    if request.top_k < 0:
        raise EngineError(ErrorCode.BAD_REQUEST, "top_k must be >= 0")
    if request.reference_in and request.reference_out:
        raise EngineError(ErrorCode.BAD_REQUEST, "give reference_in or reference_out, not both")


def _open_reference(request: ScoreRequest, n_vocab: int, digest: str) -> Any:
    assert request.reference_in is not None
    try:
        return refrows.open_rows(
            Path(request.reference_in), n_vocab=n_vocab, vocab_digest=digest, tokens=request.tokens
        )
    except refrows.ReferenceMismatchError as exc:
        code = ErrorCode.VOCAB_MISMATCH if exc.what == "vocabulary" else ErrorCode.BAD_REQUEST
        raise EngineError(code, str(exc), {"what": exc.what}) from exc


def _create_output(request: ScoreRequest, n_rows: int, n_vocab: int, digest: str) -> Any:
    assert request.reference_out is not None
    path = Path(request.reference_out)
    need = refrows.row_bytes(n_rows, n_vocab)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(path.parent).free
    except OSError as exc:
        raise EngineError(ErrorCode.BAD_REQUEST, f"reference folder: {exc}") from exc
    if free < need + _DISK_MARGIN:
        raise EngineError(
            ErrorCode.DISK_FULL,
            f"reference rows need {need} bytes, {free} free",
            {"needed": need, "free": free},
        )
    meta = refrows.RowsMeta(
        n_rows, n_vocab, digest, refrows.tokens_digest(request.tokens), request.first
    )
    return refrows.create_rows(path, meta), meta


def score_tokens(
    llm: Any,
    request: ScoreRequest,
    *,
    vocab_digest: str,
    emit: Callable[[Event], None],
    cancelled: Callable[[], bool],
) -> tuple[RowBlock, int, float]:
    """Evaluate and score ``request.tokens``; returns (rows, tokens evaluated, seconds)."""
    lc = llama_backend.llama()
    ctx = llm.ctx
    n_vocab = int(llm.n_vocab())
    _check_request(request, int(llm.n_ctx()), n_vocab)
    started = time.perf_counter()
    tokens = np.asarray(request.tokens, dtype=np.int32)
    n = len(tokens)
    first = request.first
    n_rows = n - 1 - first
    reference = _open_reference(request, n_vocab, vocab_digest) if request.reference_in else None
    out_rows, out_meta = (
        _create_output(request, n_rows, n_vocab, vocab_digest)
        if request.reference_out
        else (None, None)
    )
    piece = _piece_size(int(lc.llama_n_batch(ctx)), n_vocab)
    batch = lc.llama_batch_init(piece, 0, 1)
    acc = RowAccumulator()
    row = 0
    llm.abort_check = cancelled
    lc.llama_set_abort_callback(ctx, llm._abort_cb, None)
    try:
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        for start in range(0, n, piece):
            if cancelled():
                raise EngineError(ErrorCode.CANCELLED, "scoring cancelled")
            stop = min(n, start + piece)
            batch.n_tokens = stop - start
            outputs = []
            for i, pos in enumerate(range(start, stop)):
                batch.token[i] = int(tokens[pos])
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                wanted = first <= pos < n - 1
                batch.logits[i] = wanted
                if wanted:
                    outputs.append(pos)
            rc = lc.llama_decode(ctx, batch)
            if rc != 0:
                if cancelled():
                    raise EngineError(ErrorCode.CANCELLED, "scoring cancelled")
                raise EngineError(ErrorCode.GENERATION_FAILED, f"llama_decode returned {rc}")
            if outputs:
                ptr = lc.llama_get_logits(ctx)
                logits = np.ctypeslib.as_array(
                    ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                    shape=(len(outputs), n_vocab),
                )
                end = row + len(outputs)
                nxt = tokens[outputs[0] + 1 : outputs[-1] + 2]
                acc.add(
                    score_rows(
                        logits,
                        nxt,
                        top_k=request.top_k,
                        reference_logprobs=reference[row:end] if reference is not None else None,
                        logprobs_out=out_rows[row:end] if out_rows is not None else None,
                    )
                )
                row = end
            emit(ScoreProgress(request.request_id, stop, n))
        if out_rows is not None and out_meta is not None:
            refrows.finish_rows(Path(str(request.reference_out)), out_rows, out_meta)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise EngineError(ErrorCode.DISK_FULL, str(exc)) from exc
        raise
    finally:
        if out_rows is not None:
            out_path = Path(str(request.reference_out))
            if not refrows.meta_path(out_path).exists():  # incomplete rows are never kept
                del out_rows
                refrows.remove_rows(out_path)
        lc.llama_batch_free(batch)
        lc.llama_set_abort_callback(ctx, llm._no_abort_cb, None)
        llm._abort_installed = False
        llm.abort_check = None
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        llm.n_tokens = 0  # Llama's prefix cache must not think the sequence is still there
    return acc.joined(), n, time.perf_counter() - started
