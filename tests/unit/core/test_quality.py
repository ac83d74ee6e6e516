"""Quality maths without a model: block-wise metrics against a plain loop, llama-perplexity's
summary statistics, and how texts are cut into chunks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop_app.core.quality import row_metrics
from desktop_app.core.quality.chunks import (
    TextTooShortError,
    continuation_chunk,
    perplexity_chunks,
)
from desktop_app.core.quality.row_metrics import log_softmax, score_rows
from desktop_app.core.quality.summary import median, percentile, reference_summary, summarize


def plain_row(logits: list[float]) -> list[float]:
    m = max(logits)
    lse = m + math.log(sum(math.exp(x - m) for x in logits))
    return [x - lse for x in logits]


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 200])
def test_block_wise_scoring_matches_a_plain_loop(rows: int) -> None:
    rng = np.random.default_rng(rows)
    vocab = 97
    ref_logits = rng.normal(0, 3, size=(rows, vocab)).astype(np.float32)
    var_logits = (ref_logits + rng.normal(0, 0.5, size=(rows, vocab))).astype(np.float32)
    nxt = rng.integers(0, vocab, size=rows)
    saved = np.empty((rows, vocab), dtype=np.float32)
    ref = score_rows(ref_logits, nxt, logprobs_out=saved, top_k=3)
    var = score_rows(var_logits, nxt, reference_logprobs=saved)
    assert var.kld is not None and var.ref_nll is not None and var.ref_top1 is not None
    assert ref.top_ids is not None and ref.top_probs is not None
    for r in range(rows):
        lp_r = plain_row(ref_logits[r].tolist())
        lp_v = plain_row(var_logits[r].tolist())
        assert saved[r] == pytest.approx(lp_r, abs=1e-5)
        assert var.nll[r] == pytest.approx(-lp_v[nxt[r]], abs=1e-5)
        assert var.ref_nll[r] == pytest.approx(-lp_r[nxt[r]], abs=1e-5)
        kld = sum(math.exp(a) * (a - b) for a, b in zip(lp_r, lp_v, strict=True))
        assert var.kld[r] == pytest.approx(kld, rel=1e-4, abs=1e-6)
        order = sorted(range(vocab), key=lambda i: -lp_r[i])
        assert list(ref.top_ids[r]) == order[:3]
        assert ref.top_probs[r] == pytest.approx([math.exp(lp_r[i]) for i in order[:3]], rel=1e-5)
        assert var.top1[r] == max(range(vocab), key=lambda i: lp_v[i])
        assert var.ref_top1[r] == order[0]
    assert var.p_actual == pytest.approx(np.exp(-var.nll))


def test_log_softmax_is_stable_for_huge_logits() -> None:
    out = log_softmax(np.array([[1e30, 0.0, -1e30]], dtype=np.float32))
    assert out[0, 0] == 0.0 and np.isfinite(out[0, 0])


def test_bad_inputs_are_refused() -> None:
    logits = np.zeros((2, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="next tokens"):
        score_rows(logits, np.array([1]))
    with pytest.raises(ValueError, match="vocabulary"):
        score_rows(logits, np.array([1, 5]))
    with pytest.raises(ValueError, match="reference rows"):
        score_rows(logits, np.array([1, 2]), reference_logprobs=np.zeros((2, 4), np.float32))


def test_memory_stays_per_block(monkeypatch: pytest.MonkeyPatch) -> None:
    # Temporaries are BLOCK_ROWS x vocab: with 8-row blocks, 100 rows still give the same answer.
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(100, 50)).astype(np.float32)
    nxt = rng.integers(0, 50, size=100)
    whole = score_rows(logits, nxt)
    monkeypatch.setattr(row_metrics, "BLOCK_ROWS", 8)
    blocked = score_rows(logits, nxt)
    assert np.array_equal(whole.nll, blocked.nll) and np.array_equal(whole.top1, blocked.top1)


def test_percentile_and_median_follow_llama_perplexity() -> None:
    values = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    # 0.99 * (5 - 1) = 3.96: 96% of the way from values[3] to values[4].
    assert percentile(values, 0.99) == pytest.approx(0.04 * 3.0 + 0.96 * 10.0)
    assert percentile(values, 0.0) == 0.0 and percentile(values, 1.0) == 10.0
    assert median(values) == 2.0
    assert median(np.array([1.0, 2.0, 3.0, 4.0])) == 2.5
    assert math.isnan(median(np.array([])))


def test_summary_numbers() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 2, size=(40, 30)).astype(np.float32)
    var = (ref + rng.normal(0, 1, size=ref.shape)).astype(np.float32)
    nxt = rng.integers(0, 30, size=40)
    saved = np.empty_like(ref)
    r = score_rows(ref, nxt, logprobs_out=saved)
    v = score_rows(var, nxt, reference_logprobs=saved)
    s = summarize(v)
    assert v.kld is not None and v.ref_nll is not None
    assert s.n_tokens == 40
    assert s.ppl == pytest.approx(math.exp(v.nll.mean()))
    assert s.ppl_reference == pytest.approx(math.exp(r.nll.mean()))
    assert s.ppl_ratio == pytest.approx(s.ppl / s.ppl_reference)
    assert s.kld_mean == pytest.approx(v.kld.mean())
    assert s.kld_max == pytest.approx(v.kld.max())
    assert s.kld_median is not None and s.kld_p99 is not None
    assert s.kld_median <= s.kld_p99 <= s.kld_max
    assert 0.0 <= (s.top1_agreement or 0) <= 1.0
    assert summarize(r).kld_mean is None  # no reference: no KLD
    same = reference_summary(r)
    assert (
        same.kld_mean == 0.0
        and same.ppl_ratio == 1.0
        and same.ppl == pytest.approx(s.ppl_reference)
    )
    assert set(s.as_json()) >= {"ppl", "kld_mean", "kld_median", "kld_p99", "kld_max"}


def test_chunks() -> None:
    tokens = list(range(1, 1 + 2 * 16 + 5))
    chunks = perplexity_chunks(tokens, 16, bos=99)
    assert len(chunks) == 2
    assert chunks[1].tokens[0] == 99 and chunks[1].tokens[1:] == tuple(tokens[17:32])
    assert chunks[0].first == 8 and chunks[0].n_scored == 7
    assert len(perplexity_chunks(tokens, 16, bos=None, max_chunks=1)) == 1
    assert perplexity_chunks(tokens, 16, bos=None)[1].tokens[0] == tokens[16]
    with pytest.raises(TextTooShortError):
        perplexity_chunks(tokens[:10], 16, bos=1)
    c = continuation_chunk([1, 2, 3], [4, 5])
    assert c.tokens == (1, 2, 3, 4, 5) and c.first == 2 and c.n_scored == 2
    with pytest.raises(ValueError, match="at least one token"):
        continuation_chunk([], [1])
