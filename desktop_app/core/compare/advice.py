"""What a comparison recommends, and this model's size at every common bit width."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.compare.results import CompareResult
from desktop_app.core.fit import DEFAULT_RESERVE, LoadPlan, Verdict, estimate_as_quant, judge
from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.quant_types import file_type_by_label

LADDER_LABELS: tuple[tuple[int, str], ...] = (
    (16, "F16"),
    (8, "Q8_0"),
    (6, "Q6_K"),
    (5, "Q5_K_M"),
    (4, "Q4_K_M"),
    (3, "Q3_K_M"),
    (2, "Q2_K"),
)


@dataclass(frozen=True)
class LadderRow:
    bits: int  # nominal: 16, 8, 6, 5, 4, 3, 2
    label: str
    bits_per_weight: float
    file_bytes: int  # parameters x bits per weight / 8
    total_bytes: int  # estimated memory at the given context
    verdict: Verdict


def size_ladder(path: str, n_ctx: int, available: int) -> list[LadderRow]:
    """This model at 16 down to 2 bits: file size and memory at ``n_ctx``, with a verdict."""
    facts = read_model_facts(path)
    rows = []
    for bits, label in LADDER_LABELS:
        ft = file_type_by_label(label)
        assert ft is not None
        est = estimate_as_quant(facts, ft.bits_per_weight, LoadPlan(n_ctx=n_ctx), available)
        rows.append(
            LadderRow(
                bits=bits,
                label=label,
                bits_per_weight=ft.bits_per_weight,
                file_bytes=int(facts.parameter_count * ft.bits_per_weight / 8),
                total_bytes=est.total,
                verdict=est.verdict,
            )
        )
    return rows


def recommended(
    result: CompareResult, available: int, reserve: int = DEFAULT_RESERVE
) -> int | None:
    """The variant to use: among those that fit comfortably on their own and were scored, the
    one closest to the reference (lowest mean KLD; the reference itself counts with 0), ties to
    the smaller file. None when none fits comfortably."""
    best: tuple[float, int, int] | None = None
    for v in result.variants:
        if v.failed or v.summary is None or v.summary.kld_mean is None:
            continue
        if judge(v.info.estimated_bytes, available, reserve) != Verdict.FITS:
            continue
        key = (v.summary.kld_mean, v.info.size_bytes, v.index)
        if best is None or key < best:
            best = key
    return None if best is None else best[2]
