"""Teacher-forced scoring in the worker, checked against a plain per-token implementation.

The plain path is deliberately different: the model loaded in-process through
``llama_cpp.Llama(logits_all=True)`` (logits of every position kept, backend notes section 4
method A), and each position's numbers computed in float64 with a Python loop over the
vocabulary. The fast path (the worker: decode in pieces with logits only for scored rows,
block-wise float32 numpy, reference rows through a memory-mapped file) must agree. Both evaluate
the sequence in one batch with flash attention, since llama.cpp's kernels are not bit-identical
across batch shapes: a one-token-at-a-time evaluation differs by ~1e-2 in NLL on Q2_K.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core import llama_backend
from desktop_app.core.engine.client import SyncWorker
from desktop_app.core.engine.protocol import (
    SAMPLING_PRESETS,
    Done,
    ErrorCode,
    Failed,
    Loaded,
    LoadSettings,
    Scored,
    ScoreProgress,
)
from desktop_app.core.quality.chunks import continuation_chunk, perplexity_chunks
from desktop_app.core.quality.reference_rows import meta_path
from desktop_app.core.quality.summary import summarize
from desktop_app.core.synthetic_model import write_model

pytestmark = pytest.mark.integration

N_CTX = 512


def load(sw: SyncWorker, path: Path) -> None:
    event = sw.result(sw.worker.load(LoadSettings(str(path), n_ctx=N_CTX)))
    assert isinstance(event, Loaded), event


@pytest.fixture(scope="module")
def ref_worker(tiny_models: dict[str, Path]) -> Iterator[SyncWorker]:
    with SyncWorker() as sw:
        load(sw, tiny_models["F16"])
        yield sw


@pytest.fixture(scope="module")
def q2_worker(tiny_models: dict[str, Path]) -> Iterator[SyncWorker]:
    with SyncWorker() as sw:
        load(sw, tiny_models["Q2_K"])
        yield sw


def sample_tokens(n: int, n_vocab: int, seed: int = 7) -> list[int]:
    rng = np.random.default_rng(seed)
    return [1, *rng.integers(3, n_vocab, size=n - 1).tolist()]


def plain_logprobs(path: Path, tokens: list[int]) -> list[list[float]]:
    """Per position, float64 log-softmax of the in-process model's logits, one token at a time."""
    lc = llama_backend.llama()
    llm = lc.Llama(
        str(path), n_ctx=N_CTX, logits_all=True, verbose=True, flash_attn=True, n_threads=1
    )
    try:
        llm.reset()
        llm.eval(tokens)
        rows = []
        for i in range(len(tokens)):
            logits = [float(x) for x in llm.scores[i]]
            m = max(logits)
            lse = m + math.log(sum(math.exp(x - m) for x in logits))
            rows.append([x - lse for x in logits])
        return rows
    finally:
        llm.close()


def test_fast_path_matches_plain_per_token_scoring(
    ref_worker: SyncWorker, q2_worker: SyncWorker, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    tokens = sample_tokens(120, 1024)
    first = 30
    ref_file = tmp_path / "ref.npy"
    events = ref_worker.wait(
        ref_worker.worker.score(tokens, first=first, top_k=4, reference_out=str(ref_file))
    )
    ref = events[-1]
    assert isinstance(ref, Scored), ref
    assert any(isinstance(e, ScoreProgress) for e in events)
    assert meta_path(ref_file).exists()
    var = q2_worker.result(q2_worker.worker.score(tokens, first=first, reference_in=str(ref_file)))
    assert isinstance(var, Scored), var
    assert var.vocab_digest == ref.vocab_digest

    plain_ref = plain_logprobs(tiny_models["F16"], tokens)
    plain_var = plain_logprobs(tiny_models["Q2_K"], tokens)
    n_rows = len(tokens) - 1 - first
    assert len(var.rows.nll) == n_rows == len(ref.rows.nll)
    for row in range(n_rows):
        pos = first + row
        nxt = tokens[pos + 1]
        lp_r, lp_v = plain_ref[pos], plain_var[pos]
        kld = sum(math.exp(a) * (a - b) for a, b in zip(lp_r, lp_v, strict=True))
        assert var.rows.nll[row] == pytest.approx(-lp_v[nxt], rel=1e-4, abs=1e-4)
        assert ref.rows.nll[row] == pytest.approx(-lp_r[nxt], rel=1e-4, abs=1e-4)
        assert var.rows.ref_nll is not None and var.rows.kld is not None
        assert var.rows.ref_nll[row] == pytest.approx(-lp_r[nxt], rel=1e-4, abs=1e-4)
        assert var.rows.kld[row] == pytest.approx(kld, rel=1e-3, abs=1e-5)
        top_r = max(range(len(lp_r)), key=lp_r.__getitem__)
        top_v = max(range(len(lp_v)), key=lp_v.__getitem__)
        assert var.rows.top1[row] == top_v and var.rows.ref_top1 is not None
        assert var.rows.ref_top1[row] == top_r
        assert ref.rows.top_ids is not None and ref.rows.top_ids[row][0] == top_r
    summary = summarize(var.rows)
    assert summary.kld_mean is not None and summary.kld_mean > 0.01  # Q2_K really differs
    plain_ppl = math.exp(
        sum(-plain_var[first + r][tokens[first + r + 1]] for r in range(n_rows)) / n_rows
    )
    assert summary.ppl == pytest.approx(plain_ppl, rel=1e-4)


def test_reference_against_itself_has_zero_kld(ref_worker: SyncWorker, tmp_path: Path) -> None:
    chunk = continuation_chunk([1, 50, 60, 70], [80, 90, 100, 110, 120])
    out = tmp_path / "self.npy"
    ref_worker.result(
        ref_worker.worker.score(chunk.tokens, first=chunk.first, reference_out=str(out))
    )
    again = ref_worker.result(
        ref_worker.worker.score(chunk.tokens, first=chunk.first, reference_in=str(out))
    )
    assert isinstance(again, Scored)
    assert len(again.rows.nll) == chunk.n_scored == 5
    s = summarize(again.rows)
    assert s.kld_max == pytest.approx(0.0, abs=1e-6)
    assert s.top1_agreement == 1.0 and s.ppl_ratio == pytest.approx(1.0)


def test_chunks_score_the_second_half_like_llama_perplexity(ref_worker: SyncWorker) -> None:
    tokens = sample_tokens(2 * 64 + 10, 1024, seed=3)
    chunks = perplexity_chunks(tokens, 64, bos=1)
    assert len(chunks) == 2 and all(c.first == 32 and c.tokens[0] == 1 for c in chunks)
    for chunk in chunks:
        scored = ref_worker.result(ref_worker.worker.score(chunk.tokens, first=chunk.first))
        assert isinstance(scored, Scored) and len(scored.rows.nll) == 31


def test_different_vocabularies_are_refused_for_kld(ref_worker: SyncWorker, tmp_path: Path) -> None:
    tokens = sample_tokens(40, 1024)
    out = tmp_path / "ref.npy"
    ref_worker.result(ref_worker.worker.score(tokens, first=5, reference_out=str(out)))
    # The "small" shape has a 4096-token vocabulary: its distributions cannot be compared.
    other = write_model(tmp_path / "small.gguf", "small")
    with SyncWorker() as sw:
        load(sw, other)
        refused = sw.result(sw.worker.score(tokens, first=5, reference_in=str(out)))
    assert isinstance(refused, Failed) and refused.code == ErrorCode.VOCAB_MISMATCH
    # Rows saved for another text are refused too, rather than compared position by position.
    other_text = ref_worker.result(
        ref_worker.worker.score(tokens[:-1] + [2], first=5, reference_in=str(out))
    )
    assert isinstance(other_text, Failed) and other_text.code == ErrorCode.BAD_REQUEST


def test_incomplete_reference_rows_are_never_kept(ref_worker: SyncWorker, tmp_path: Path) -> None:
    out = tmp_path / "missing-folder-is-made" / "ref.npy"
    scored = ref_worker.result(
        ref_worker.worker.score(sample_tokens(30, 1024), first=3, reference_out=str(out))
    )
    assert isinstance(scored, Scored) and out.exists() and meta_path(out).exists()
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    failed = ref_worker.result(
        ref_worker.worker.score(
            sample_tokens(30, 1024), first=3, reference_out=str(blocked / "ref.npy")
        )
    )
    assert isinstance(failed, Failed) and failed.code == ErrorCode.BAD_REQUEST


def test_score_longer_than_context_is_refused(ref_worker: SyncWorker) -> None:
    failed = ref_worker.result(ref_worker.worker.score(sample_tokens(N_CTX + 1, 1024)))
    assert isinstance(failed, Failed) and failed.code == ErrorCode.PROMPT_TOO_LONG


def test_generation_after_scoring_starts_from_a_clean_context(ref_worker: SyncWorker) -> None:
    sp = dataclasses.replace(SAMPLING_PRESETS["Precise"], max_tokens=12)
    before = ref_worker.result(ref_worker.worker.generate(prompt="hello world", sampling=sp))
    ref_worker.result(ref_worker.worker.score(sample_tokens(200, 1024), first=10))
    after = ref_worker.result(ref_worker.worker.generate(prompt="hello world", sampling=sp))
    assert isinstance(before, Done) and isinstance(after, Done)
    assert after.text == before.text
