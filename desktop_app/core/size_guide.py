"""What model sizes fit this machine: well-known model shapes at common quantizations.

The shapes are public architecture facts of popular open models (layers, KV heads, head size,
parameters); they let the "This machine" page answer "which models can I run?" before any file
is on disk. Weights are parameters x the file type's nominal bits per weight.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.fit import (
    CTX_PAD,
    DEFAULT_RESERVE,
    KV_TYPE_BYTES,
    RUNTIME_OVERHEAD,
    Verdict,
    judge,
)
from desktop_app.core.quant_types import file_type_by_label


@dataclass(frozen=True)
class ReferenceModel:
    name: str
    parameters: int
    n_layer: int
    n_head_kv: int
    head_dim: int
    n_vocab: int


REFERENCE_MODELS: tuple[ReferenceModel, ...] = (
    ReferenceModel("Qwen2.5 0.5B", 494_000_000, 24, 2, 64, 151_936),
    ReferenceModel("Llama 3.2 1B", 1_236_000_000, 16, 8, 64, 128_256),
    ReferenceModel("Llama 3.2 3B", 3_213_000_000, 28, 8, 128, 128_256),
    ReferenceModel("Qwen2.5 7B", 7_616_000_000, 28, 4, 128, 152_064),
    ReferenceModel("Llama 3.1 8B", 8_030_000_000, 32, 8, 128, 128_256),
    ReferenceModel("Qwen2.5 14B", 14_770_000_000, 48, 8, 128, 152_064),
    ReferenceModel("Qwen2.5 32B", 32_760_000_000, 64, 8, 128, 152_064),
    ReferenceModel("Llama 3.1 70B", 70_550_000_000, 80, 8, 128, 128_256),
)

GUIDE_QUANTS: tuple[str, ...] = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


@dataclass(frozen=True)
class GuideCell:
    quant: str
    total: int
    verdict: Verdict


def reference_total(model: ReferenceModel, quant: str, n_ctx: int, kv_type: str = "f16") -> int:
    file_type = file_type_by_label(quant)
    if file_type is None:
        raise ValueError(f"unknown quant {quant!r}")
    weights = int(model.parameters * file_type.bits_per_weight / 8)
    n_ctx_pad = -(-n_ctx // CTX_PAD) * CTX_PAD
    kv = int(
        n_ctx_pad * model.n_layer * model.n_head_kv * 2 * model.head_dim * KV_TYPE_BYTES[kv_type]
    )
    # Compute: one batch of activations and the logits buffer, as fit.compute_bytes models it.
    compute = 4 * model.n_vocab * 64 + 64 * 1024 * 1024
    return weights + kv + compute + RUNTIME_OVERHEAD


def size_guide(
    available: int, n_ctx: int = 4096, reserve: int = DEFAULT_RESERVE
) -> list[tuple[ReferenceModel, list[GuideCell]]]:
    rows = []
    for model in REFERENCE_MODELS:
        cells = []
        for quant in GUIDE_QUANTS:
            total = reference_total(model, quant, n_ctx)
            cells.append(GuideCell(quant, total, judge(total, available, reserve)))
        rows.append((model, cells))
    return rows
