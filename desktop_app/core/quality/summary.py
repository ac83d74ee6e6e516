"""Summary statistics of a scored text, defined as llama-perplexity --kl-divergence defines them.

* perplexity: exp(mean NLL) over the scored positions;
* PPL ratio: exp(mean(NLL_model - NLL_reference)) ("Mean PPL(Q)/PPL(base)");
* KLD: mean, median (mean of the two middle values for an even count), p99 (linear
  interpolation between the sorted values at 0.99 * (n - 1)) and max;
* same top-1: the share of positions where the model's most likely token is the reference's;
* delta-p: mean change in the probability of the token that really came next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desktop_app.core.quality.row_metrics import RowBlock

F64 = npt.NDArray[np.float64]


def percentile(sorted_values: F64, fraction: float) -> float:
    """llama-perplexity's percentile: linear between neighbours of sorted values."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    p = fraction * (n - 1)
    i = int(p)
    frac = p - i
    j = min(i + 1, n - 1)
    return float((1 - frac) * sorted_values[i] + frac * sorted_values[j])


def median(sorted_values: F64) -> float:
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if n % 2:
        return float(sorted_values[n // 2])
    return float(0.5 * (sorted_values[n // 2] + sorted_values[n // 2 - 1]))


@dataclass(frozen=True)
class QualitySummary:
    """One variant's numbers over one scored text. KLD fields are None without a reference."""

    n_tokens: int
    ppl: float
    ppl_reference: float | None = None
    ppl_ratio: float | None = None
    kld_mean: float | None = None
    kld_median: float | None = None
    kld_p99: float | None = None
    kld_max: float | None = None
    top1_agreement: float | None = None  # 0..1
    delta_p_mean: float | None = None  # mean of p_model(actual) - p_reference(actual)

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "n_tokens": self.n_tokens,
            "ppl": self.ppl,
            "ppl_reference": self.ppl_reference,
            "ppl_ratio": self.ppl_ratio,
            "kld_mean": self.kld_mean,
            "kld_median": self.kld_median,
            "kld_p99": self.kld_p99,
            "kld_max": self.kld_max,
            "top1_agreement": self.top1_agreement,
            "delta_p_mean": self.delta_p_mean,
        }


def summarize(rows: RowBlock) -> QualitySummary:
    n = int(len(rows.nll))
    if n == 0:
        return QualitySummary(n_tokens=0, ppl=math.nan)
    ppl = math.exp(float(np.mean(rows.nll)))
    if rows.kld is None or rows.ref_nll is None or rows.ref_top1 is None:
        return QualitySummary(n_tokens=n, ppl=ppl)
    kld = np.sort(rows.kld)
    p_diff = np.exp(-rows.nll) - np.exp(-rows.ref_nll)
    return QualitySummary(
        n_tokens=n,
        ppl=ppl,
        ppl_reference=math.exp(float(np.mean(rows.ref_nll))),
        ppl_ratio=math.exp(float(np.mean(rows.nll - rows.ref_nll))),
        kld_mean=float(np.mean(kld)),
        kld_median=median(kld),
        kld_p99=percentile(kld, 0.99),
        kld_max=float(kld[-1]),
        top1_agreement=float(np.mean(rows.top1 == rows.ref_top1)),
        delta_p_mean=float(np.mean(p_diff)),
    )


def reference_summary(rows: RowBlock) -> QualitySummary:
    """The reference against itself: KLD 0, full agreement, ratio 1 (listed in reports)."""
    base = summarize(RowBlock(rows.nll, rows.top1, rows.top1_prob))
    return QualitySummary(
        n_tokens=base.n_tokens,
        ppl=base.ppl,
        ppl_reference=base.ppl,
        ppl_ratio=1.0,
        kld_mean=0.0,
        kld_median=0.0,
        kld_p99=0.0,
        kld_max=0.0,
        top1_agreement=1.0,
        delta_p_mean=0.0,
    )
