"""Compare results built from the real result dataclasses (what the runner returns), for widget
tests: a reference reply, variants that depart from it at known tokens, and scored rows whose
summaries come from the real ``quality.summary`` functions."""

from __future__ import annotations

import numpy as np

from desktop_app.core.compare.results import (
    CompareResult,
    CompareSpec,
    RunMode,
    RunPlan,
    VariantInfo,
    VariantResult,
)
from desktop_app.core.engine.protocol import ChatMessage, GenerationStats, Token, TopToken
from desktop_app.core.quality.row_metrics import RowBlock
from desktop_app.core.quality.summary import reference_summary, summarize

GIB = 1024**3
REFERENCE_WORDS = ["The", " sky", " is", " blue", " because", " air", " scatters", " light", "."]
# Each variant: (label, size, bpw, words of its own reply, per-token KLD of the scored text).
VARIANTS = (
    ("F16", int(1.0 * GIB), 16.0, REFERENCE_WORDS, None),
    ("Q4_K_M", int(0.31 * GIB), 4.89, REFERENCE_WORDS[:5] + [" the", " sun", "."], 0.02),
    ("Q2_K", int(0.20 * GIB), 2.96, REFERENCE_WORDS[:2] + [" looks", " blue", "."], 0.3),
)


def word_id(word: str) -> int:
    return 100 + sum(ord(c) for c in word)


def make_tokens(words: list[str], request_id: int = 1) -> tuple[Token, ...]:
    tokens = []
    for i, word in enumerate(words):
        prob = 0.95 - 0.1 * (i % 5)
        top = (
            TopToken(word_id(word), word, prob),
            TopToken(word_id(word + "x"), word + "x", (1 - prob) * 0.6),
        )
        tokens.append(Token(request_id, word_id(word), word, prob, top))
    return tuple(tokens)


def make_rows(n: int, kld_scale: float | None, seed: int) -> RowBlock:
    rng = np.random.default_rng(seed)
    ref_nll = rng.uniform(0.1, 2.0, n)
    ids = np.array([word_id(w) for w in REFERENCE_WORDS[:n]], dtype=np.int32)
    if kld_scale is None:
        return RowBlock(ref_nll, ids, np.exp(-ref_nll))
    kld = rng.uniform(0, kld_scale, n)
    kld[n // 2] = kld_scale * 5  # one spike the strip must show
    top1 = ids.copy()
    top1[n // 2] = word_id(" looks")
    return RowBlock(
        nll=ref_nll + kld,
        top1=top1,
        top1_prob=np.exp(-(ref_nll + kld)),
        kld=kld,
        ref_nll=ref_nll,
        ref_top1=ids,
    )


def make_result(*, failed: int | None = None, available: int = 16 * GIB) -> CompareResult:
    """Three variants, F16 the reference; ``failed``: that pane crashed."""
    infos = tuple(
        VariantInfo(f"/models/tiny-{label}.gguf", label, size, bpw, int(size * 1.3), "fits")
        for label, size, bpw, _w, _k in VARIANTS
    )
    plan = RunPlan(
        mode=RunMode.PARALLEL,
        reason="all_fit",
        reference=0,
        threads=1,
        threads_batch=1,
        variants=infos,
        combined_bytes=sum(i.estimated_bytes for i in infos),
        available_bytes=available,
    )
    n = len(REFERENCE_WORDS)
    variants = []
    for i, (_label, _size, _bpw, words, kld_scale) in enumerate(VARIANTS):
        tokens = make_tokens(words)
        stats = GenerationStats(12, len(tokens), 0.05 * (i + 1), 300.0, 40.0 + 10 * i, 0, "stop")
        if i == failed:
            variants.append(
                VariantResult(
                    index=i,
                    info=infos[i],
                    text="".join(words[:2]),
                    tokens=tokens[:2],
                    error_code="worker_crashed",
                    error_detail="",
                    error_facts={"signal": "SIGABRT"},
                )
            )
            continue
        rows = make_rows(n, kld_scale, seed=i)
        summary = reference_summary(rows) if kld_scale is None else summarize(rows)
        variants.append(
            VariantResult(
                index=i,
                info=infos[i],
                text="".join(words),
                tokens=tokens,
                stats=stats,
                rows=rows,
                summary=summary,
                peak_rss_bytes=int(infos[i].estimated_bytes * 0.95),
                eval_tps=200.0,
            )
        )
    spec = CompareSpec(
        variants=tuple(i.path for i in infos),
        messages=(ChatMessage("user", "Why is the sky blue?"),),
    )
    return CompareResult(
        spec=spec,
        plan=plan,
        variants=tuple(variants),
        scored_tokens=tuple(word_id(w) for w in REFERENCE_WORDS),
        scored_texts=tuple(REFERENCE_WORDS),
    )
