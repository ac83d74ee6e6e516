"""Will each quant of a repo fit this machine? Fit verdicts before downloading anything.

One remote header gives the architecture (layers, KV heads, head sizes, vocabulary, trained
context); every quant of a model shares it, only the weights differ. So each variant is priced
from its real file size (all shards) plus the KV cache, compute buffer and runtime at the
chosen context. The variant whose own header was read gets the full per-tensor estimate.
Without header facts the estimate is the weights alone and says so (``kv_included=False``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop_app.core.fit import (
    DEFAULT_RESERVE,
    RUNTIME_OVERHEAD,
    FitEstimate,
    LoadPlan,
    MemoryEstimate,
    Verdict,
    compute_bytes,
    estimate_fit,
    judge,
    kv_cache_bytes,
)
from desktop_app.core.hub.listing import QuantVariant, RemoteFile, RepoListing
from desktop_app.core.hub.remote_header import RemoteFacts

__all__ = ["VariantFit", "fit_variants", "header_source", "recommended"]


@dataclass(frozen=True)
class VariantFit:
    variant: QuantVariant
    estimate: FitEstimate | None  # None when the listing has no size for it
    kv_included: bool  # KV cache and compute priced from real header facts
    exact: bool  # this variant's own header was read

    @property
    def verdict(self) -> Verdict | None:
        return self.estimate.verdict if self.estimate is not None else None


def header_source(listing: RepoListing) -> RemoteFile | None:
    """The file whose header to read for a repo: the first shard of its smallest complete
    variant (every quant of a model has the same architecture facts)."""
    candidates = [v for v in listing.variants if v.complete and v.size is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda v: (v.size or 0, v.key)).first


def _sized_estimate(
    variant_size: int,
    facts: RemoteFacts | None,
    plan: LoadPlan,
    available: int,
    reserve: int,
) -> FitEstimate:
    if facts is None:
        kv = compute = 0
        weights = variant_size
    else:
        kv = kv_cache_bytes(facts.facts, plan.n_ctx, plan.kv_type, plan.n_ubatch)
        compute = compute_bytes(facts.facts, plan)
        # Each shard has its own header; the tensor data is the rest.
        weights = max(0, variant_size - facts.header_bytes)
    memory = MemoryEstimate(
        weights=weights,
        repack=0,  # the engine loads without mmap: no repacked copy next to a mapped one
        kv_cache=kv,
        compute=compute,
        overhead=RUNTIME_OVERHEAD,
        n_ctx=plan.n_ctx,
        kv_type=plan.kv_type,
        use_mmap=plan.use_mmap,
    )
    return FitEstimate(memory, available, reserve, judge(memory.total, available, reserve))


def fit_variants(
    variants: Sequence[QuantVariant],
    facts: RemoteFacts | None,
    plan: LoadPlan,
    available: int,
    *,
    cpu_features: Iterable[str] = ("AVX2",),
    reserve: int = DEFAULT_RESERVE,
) -> tuple[VariantFit, ...]:
    features = tuple(cpu_features)
    fits = []
    for v in variants:
        exact = (
            facts is not None
            and v.shard_count == 1
            and v.first.path == facts.filename
            and v.size == facts.file_size
        )
        if exact and facts is not None:
            estimate: FitEstimate | None = estimate_fit(
                facts.facts, plan, available, cpu_features=features, reserve=reserve
            )
        elif v.size is not None:
            estimate = _sized_estimate(v.size, facts, plan, available, reserve)
        else:
            estimate = None
        fits.append(VariantFit(v, estimate, facts is not None, exact))
    return tuple(fits)


def recommended(fits: Iterable[VariantFit]) -> QuantVariant | None:
    """The highest-quality complete variant that fits comfortably (verdict FITS)."""
    good = [
        f.variant
        for f in fits
        if f.verdict is Verdict.FITS and f.variant.complete and f.variant.file_type is not None
    ]
    if not good:
        return None
    return max(good, key=lambda v: (v.rank, -(v.size or 0)))
