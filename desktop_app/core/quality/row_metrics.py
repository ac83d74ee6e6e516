"""Per-position quality numbers from a block of logits (numpy only, no llama.cpp).

A *row* is the model's logits at one position; it predicts the next token. For each row this
module gives what Compare and the perplexity tool need: the negative log-likelihood of the token
that really came next, its probability, the model's own top-1 choice, optional top-k
alternatives, and, when the reference model's log-probabilities for the same row are given, the
KL divergence KL(reference || model) over the whole vocabulary.

Rows are processed in blocks (``BLOCK_ROWS``) so the extra memory is a few block x vocabulary
float arrays, never the whole text x vocabulary. Sums are accumulated in float64; the
log-softmax itself is float32 like llama.cpp's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

BLOCK_ROWS = 64  # 64 x 152k vocab x 4 bytes = 39 MB per temporary


def log_softmax(logits: F32) -> F32:
    """Row-wise log-softmax of a (rows, vocab) float32 array, numerically stable."""
    x = np.asarray(logits, dtype=np.float32)
    shifted = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, dtype=np.float64, keepdims=True))
    out: F32 = (shifted - lse.astype(np.float32)).astype(np.float32, copy=False)
    return out


@dataclass
class RowBlock:
    """Per-row results; arrays of equal length (one entry per scored position)."""

    nll: F64  # -log p(actual next token)
    top1: I32  # the model's most likely token id
    top1_prob: F64
    top_ids: I32 | None = None  # (rows, k) when top_k > 0
    top_probs: F64 | None = None
    kld: F64 | None = None  # KL(reference || model), when reference rows were given
    ref_nll: F64 | None = None
    ref_top1: I32 | None = None

    @property
    def p_actual(self) -> F64:
        out: F64 = np.exp(-self.nll)
        return out


@dataclass
class RowAccumulator:
    """Collects RowBlocks in order and joins them at the end."""

    blocks: list[RowBlock] = field(default_factory=list)

    def add(self, block: RowBlock) -> None:
        self.blocks.append(block)

    def joined(self) -> RowBlock:
        if not self.blocks:
            empty_f = np.zeros(0, dtype=np.float64)
            empty_i = np.zeros(0, dtype=np.int32)
            return RowBlock(empty_f, empty_i, empty_f.copy())

        def cat(name: str) -> npt.NDArray[np.generic] | None:
            parts = [getattr(b, name) for b in self.blocks]
            if any(p is None for p in parts):
                return None
            return np.concatenate(parts)

        return RowBlock(
            nll=cat("nll"),  # type: ignore[arg-type]
            top1=cat("top1"),  # type: ignore[arg-type]
            top1_prob=cat("top1_prob"),  # type: ignore[arg-type]
            top_ids=cat("top_ids"),  # type: ignore[arg-type]
            top_probs=cat("top_probs"),  # type: ignore[arg-type]
            kld=cat("kld"),  # type: ignore[arg-type]
            ref_nll=cat("ref_nll"),  # type: ignore[arg-type]
            ref_top1=cat("ref_top1"),  # type: ignore[arg-type]
        )


def score_rows(
    logits: F32,
    next_tokens: npt.NDArray[np.integer],
    *,
    top_k: int = 0,
    reference_logprobs: F32 | None = None,
    logprobs_out: F32 | None = None,
) -> RowBlock:
    """Score ``logits`` (rows, vocab) against the tokens that came next (one per row).

    ``reference_logprobs`` (rows, vocab): the reference model's log-softmax for the same rows;
    adds KL divergence, the reference's NLL and top-1. ``logprobs_out`` (rows, vocab), when
    given, receives this model's log-softmax (how a reference run saves its rows).
    """
    rows, vocab = logits.shape
    nxt = np.asarray(next_tokens, dtype=np.int64)
    if nxt.shape != (rows,):
        raise ValueError(f"{rows} rows but {nxt.shape} next tokens")
    if rows and (nxt.min() < 0 or nxt.max() >= vocab):
        raise ValueError("next token id outside the vocabulary")
    k = max(0, min(int(top_k), vocab))
    acc = RowAccumulator()
    for start in range(0, rows, BLOCK_ROWS):
        stop = min(rows, start + BLOCK_ROWS)
        lp = log_softmax(logits[start:stop])
        if logprobs_out is not None:
            logprobs_out[start:stop] = lp
        idx = np.arange(stop - start)
        top1 = lp.argmax(axis=1).astype(np.int32)
        block = RowBlock(
            nll=-lp[idx, nxt[start:stop]].astype(np.float64),
            top1=top1,
            top1_prob=np.exp(lp[idx, top1].astype(np.float64)),
        )
        if k:
            part = np.argpartition(-lp, k - 1, axis=1)[:, :k]
            part_lp = np.take_along_axis(lp, part, axis=1)
            order = np.argsort(-part_lp, axis=1, kind="stable")
            block.top_ids = np.take_along_axis(part, order, axis=1).astype(np.int32)
            block.top_probs = np.exp(np.take_along_axis(part_lp, order, axis=1).astype(np.float64))
        if reference_logprobs is not None:
            ref = np.asarray(reference_logprobs[start:stop], dtype=np.float32)
            if ref.shape != lp.shape:
                raise ValueError(f"reference rows {ref.shape} do not match {lp.shape}")
            p_ref = np.exp(ref)
            block.kld = (p_ref * (ref - lp)).sum(axis=1, dtype=np.float64)
            block.ref_nll = -ref[idx, nxt[start:stop]].astype(np.float64)
            block.ref_top1 = ref.argmax(axis=1).astype(np.int32)
        acc.add(block)
    return acc.joined()
