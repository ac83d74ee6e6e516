"""First-run advice: how large a model this machine can run, and catalog models that fit.

Catalog entries only state a parameter count, so a file's size is priced from it at the
quantization's nominal bits per weight, and the KV cache and compute buffers are borrowed from
the nearest well-known shape in ``size_guide.REFERENCE_MODELS`` (similar sizes share similar
layer counts and head layouts). The same ``fit.judge`` verdict as everywhere else decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from desktop_app.core.fit import DEFAULT_RESERVE, Verdict, judge
from desktop_app.core.hub.catalog import CatalogEntry
from desktop_app.core.quant_types import file_type_by_label
from desktop_app.core.size_guide import REFERENCE_MODELS, ReferenceModel, reference_total

__all__ = ["SUGGESTED_QUANT", "Suggestion", "largest_fitting", "price_entry", "suggest_models"]

SUGGESTED_QUANT = "Q4_K_M"  # the usual first choice: a quarter of F16's size, little loss
_DEFAULT_CTX = 4096


@dataclass(frozen=True)
class Suggestion:
    entry: CatalogEntry
    quant: str
    file_size: int  # estimated bytes of the .gguf file
    total: int  # estimated memory when loaded at the context priced
    verdict: Verdict


def _weights(parameters: int, quant: str) -> int:
    file_type = file_type_by_label(quant)
    if file_type is None:
        raise ValueError(f"unknown quant {quant!r}")
    return int(parameters * file_type.bits_per_weight / 8)


def _nearest_shape(parameters: int) -> ReferenceModel:
    return min(REFERENCE_MODELS, key=lambda m: abs(m.parameters - parameters))


def price_entry(
    entry: CatalogEntry,
    available: int,
    quant: str = SUGGESTED_QUANT,
    n_ctx: int = _DEFAULT_CTX,
    reserve: int = DEFAULT_RESERVE,
) -> Suggestion | None:
    """The entry priced at ``quant``; None when the catalog states no parameter count."""
    parameters = entry.parameter_count
    if parameters is None:
        return None
    shape = _nearest_shape(parameters)
    weights = _weights(parameters, quant)
    total = reference_total(shape, quant, n_ctx) - _weights(shape.parameters, quant) + weights
    return Suggestion(entry, quant, weights, total, judge(total, available, reserve))


def suggest_models(
    entries: Iterable[CatalogEntry],
    available: int,
    count: int = 3,
    quant: str = SUGGESTED_QUANT,
    n_ctx: int = _DEFAULT_CTX,
) -> list[Suggestion]:
    """Up to ``count`` models that fit comfortably, the largest first, one per family.

    Larger models answer better, but on a CPU they are also slower, and the machine has other
    work to do: so a suggestion uses at most half of the memory available now. One per family
    keeps the three from being sizes of the same model.
    """
    priced = [price_entry(e, available, quant, n_ctx) for e in entries]
    fitting = [
        s
        for s in priced
        if s is not None and s.verdict is Verdict.FITS and s.total <= available // 2
    ]
    fitting.sort(key=lambda s: (-s.file_size, s.entry.repo_id))
    chosen: list[Suggestion] = []
    families: set[str] = set()
    for suggestion in fitting:
        if suggestion.entry.family in families:
            continue
        families.add(suggestion.entry.family)
        chosen.append(suggestion)
        if len(chosen) == count:
            break
    return chosen


def largest_fitting(
    available: int, quant: str = SUGGESTED_QUANT, n_ctx: int = _DEFAULT_CTX
) -> ReferenceModel | None:
    """The largest well-known model that fits comfortably at ``quant``; None if none does."""
    fitting = [
        m
        for m in REFERENCE_MODELS
        if judge(reference_total(m, quant, n_ctx), available) is Verdict.FITS
    ]
    return max(fitting, key=lambda m: m.parameters, default=None)
