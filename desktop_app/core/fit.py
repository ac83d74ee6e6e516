"""Will this model fit? A memory estimate from the GGUF header, and a verdict for this machine.

The estimate describes how QuantDesk's engine loads models (see ``LoadPlan``), term by term,
because memory is not "file size plus KV cache":

* weights: every tensor's bytes. The engine loads them without mmap, into anonymous memory
  (on huge pages: engine/huge_pages.py): generation ran 12% (F16) and 5% (Q4_K_M) faster
  there than through a file mapping (benchmarks/RESULTS.md, "Worker memory"). With mmap, when
  the user asks for it, they are file-backed pages (RssFile); llama.cpp prefetches the whole
  mapping, so RSS counts them either way.
* repack: llama.cpp's CPU backend copies Q4_0 / Q4_K / IQ4_NL matmul weights (Q2_K as well when
  built for AVX-512) into interleaved anonymous buffers. With mmap the mapped original stays
  resident too, so those bytes count twice; without mmap they are loaded straight into the
  repacked buffer.
* kv_cache: n_ctx padded to 256, per layer K and V rows at the chosen cache type.
* compute: the part of llama.cpp's compute buffer a full prompt batch really touches, plus the
  attention scratch without flash attention.
* overhead: the runtime itself (Python, llama.cpp, libraries) and the output logits buffer.

Coefficients were measured against peak RSS on random-weight models of real shapes; see
``benchmarks/fit_accuracy.py`` and ``benchmarks/RESULTS.md`` for how close the estimate is.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from desktop_app.core.model_facts import ModelFacts

MIB = 1024 * 1024
GIB = 1024 * MIB

# Bytes per element of each KV cache type (block size 32 for the quantized ones).
KV_TYPE_BYTES: dict[str, float] = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

# Runtime baseline: interpreter, llama.cpp, ggml thread pool, libraries (measured on the tiny
# model, whose own weights and cache are negligible).
RUNTIME_OVERHEAD = 60 * MIB
# Fraction of the estimate kept free before calling a model a comfortable fit: the estimate's
# own error bound.
ESTIMATE_MARGIN_PERCENT = 10
# Memory left for the OS and other programs.
DEFAULT_RESERVE = 1 * GIB

CTX_PAD = 256


class Verdict(enum.StrEnum):
    FITS = "fits"
    TIGHT = "tight"
    DOES_NOT_FIT = "does_not_fit"


@dataclass(frozen=True)
class LoadPlan:
    """How the engine will load a model; the estimate follows the same choices."""

    n_ctx: int = 4096
    kv_type: str = "f16"
    flash_attn: bool = True
    n_batch: int = 512
    n_ubatch: int = 512
    # The engine's default is no mmap: faster generation, no repacked copy held twice.
    use_mmap: bool = False


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    repack: int
    kv_cache: int
    compute: int
    overhead: int
    n_ctx: int
    kv_type: str
    use_mmap: bool

    @property
    def total(self) -> int:
        return self.weights + self.repack + self.kv_cache + self.compute + self.overhead


@dataclass(frozen=True)
class FitEstimate:
    memory: MemoryEstimate
    available: int
    reserve: int
    verdict: Verdict

    @property
    def total(self) -> int:
        return self.memory.total

    @property
    def headroom(self) -> int:
        """Bytes left after loading, before the reserve (negative: short by that much)."""
        return self.available - self.total

    def to_json(self) -> dict[str, Any]:
        m = self.memory
        return {
            "weights": m.weights,
            "repack": m.repack,
            "kv_cache": m.kv_cache,
            "compute": m.compute,
            "overhead": m.overhead,
            "total": m.total,
            "n_ctx": m.n_ctx,
            "kv_type": m.kv_type,
            "use_mmap": m.use_mmap,
            "available": self.available,
            "reserve": self.reserve,
            "verdict": self.verdict.value,
        }


def repack_types(cpu_features: Iterable[str]) -> frozenset[str]:
    """ggml tensor types llama.cpp's CPU backend repacks on a CPU with these features."""
    feats = {f.upper() for f in cpu_features}
    types: set[str] = set()
    if "AVX2" in feats or "NEON" in feats or "DOTPROD" in feats:
        types |= {"Q4_0", "Q4_K", "IQ4_NL"}
    if "AVX512" in feats:
        types.add("Q2_K")
    return frozenset(types)


def _pad(n: int, to: int) -> int:
    return -(-n // to) * to


def kv_cache_bytes(facts: ModelFacts, n_ctx: int, kv_type: str = "f16", n_ubatch: int = 512) -> int:
    """Every layer keeps K and V for each cell of the context, except the layers llama.cpp runs
    with a sliding window: those keep the window plus one micro-batch (the engine loads with
    ``swa_full`` off, core/sliding_window.py)."""
    if kv_type not in KV_TYPE_BYTES:
        raise ValueError(f"kv_type must be one of {sorted(KV_TYPE_BYTES)}")
    n_layer = facts.n_layer or 0
    k_len = facts.key_length or 0
    v_len = facts.value_length or 0
    per_type = KV_TYPE_BYTES[kv_type]
    n_ctx_pad = _pad(max(1, n_ctx), CTX_PAD)
    if facts.n_head_kv_per_layer:
        heads = list(facts.n_head_kv_per_layer[:n_layer])
    else:
        heads = [facts.n_head_kv or 0] * n_layer
    swa = facts.swa
    swa_cells = swa.cache_cells(n_ctx_pad, max(1, n_ubatch)) if swa else n_ctx_pad
    cells = sum(
        n_heads * (swa_cells if swa and il < len(swa.layers) and swa.layers[il] else n_ctx_pad)
        for il, n_heads in enumerate(heads)
    )
    return int(cells * (k_len + v_len) * per_type)


def repack_bytes(facts: ModelFacts, types: frozenset[str]) -> int:
    # token_embd is read row by row (get_rows), never as a matmul weight, so it is not repacked.
    return sum(
        n_bytes
        for name, tname, n_bytes, n_dims in facts.tensors
        if tname in types and n_dims >= 2 and not name.startswith("token_embd")
    )


def compute_bytes(facts: ModelFacts, plan: LoadPlan) -> int:
    """The touched part of the compute buffer for a full batch, plus non-FA attention scratch."""
    n_embd = facts.n_embd or 0
    n_ff = facts.n_ff or 0
    n_head = facts.n_head or 0
    n_vocab = facts.vocab_size or 0
    n_ctx_pad = _pad(max(1, plan.n_ctx), CTX_PAD)
    ub = plan.n_ubatch
    # Activations of one ubatch through a layer (f32): residual, norms, q/k/v, FFN gate/up.
    activations = 4 * ub * (4 * n_embd + 2 * n_ff)
    # Logits of the last position only in chat use, but the output buffer is sized per batch.
    logits = 4 * n_vocab * plan.n_batch // 8
    attention = 0
    if not plan.flash_attn:
        attention = int(1.5 * 4 * ub * n_ctx_pad * n_head + 4 * ub * n_ctx_pad)
    return activations + logits + attention


def estimate_memory(
    facts: ModelFacts, plan: LoadPlan, cpu_features: Iterable[str] = ("AVX2",)
) -> MemoryEstimate:
    repack_all = repack_bytes(facts, repack_types(cpu_features))
    use_mmap = plan.use_mmap
    return MemoryEstimate(
        weights=facts.weights_bytes,
        repack=repack_all if use_mmap else 0,
        kv_cache=kv_cache_bytes(facts, plan.n_ctx, plan.kv_type, plan.n_ubatch),
        compute=compute_bytes(facts, plan),
        overhead=RUNTIME_OVERHEAD,
        n_ctx=plan.n_ctx,
        kv_type=plan.kv_type,
        use_mmap=use_mmap,
    )


def judge(total: int, available: int, reserve: int = DEFAULT_RESERVE) -> Verdict:
    """fits: room for the estimate plus its error margin and the reserve; tight: fits only by
    eating into them; does not fit: more than what is available."""
    margin = -(-total * ESTIMATE_MARGIN_PERCENT // 100)  # integer ceil: no float rounding
    if total + margin + reserve <= available:
        return Verdict.FITS
    if total <= available:
        return Verdict.TIGHT
    return Verdict.DOES_NOT_FIT


def estimate_fit(
    facts: ModelFacts,
    plan: LoadPlan,
    available: int,
    *,
    cpu_features: Iterable[str] = ("AVX2",),
    reserve: int = DEFAULT_RESERVE,
) -> FitEstimate:
    memory = estimate_memory(facts, plan, cpu_features)
    return FitEstimate(memory, available, reserve, judge(memory.total, available, reserve))


def max_context(
    facts: ModelFacts,
    plan: LoadPlan,
    available: int,
    *,
    cpu_features: Iterable[str] = ("AVX2",),
    reserve: int = DEFAULT_RESERVE,
    comfortable: bool = True,
) -> int:
    """Largest context (a multiple of 256, up to the trained length) that still fits; 0 if none.

    ``comfortable`` asks for a FITS verdict; otherwise TIGHT is accepted.
    """
    accept = {Verdict.FITS} if comfortable else {Verdict.FITS, Verdict.TIGHT}
    limit = facts.context_length or 131072
    lo, hi = 0, max(1, limit // CTX_PAD)
    while lo < hi:  # largest k with k*256 accepted; memory grows monotonically with k
        mid = (lo + hi + 1) // 2
        trial = LoadPlan(
            n_ctx=mid * CTX_PAD,
            kv_type=plan.kv_type,
            flash_attn=plan.flash_attn,
            n_batch=plan.n_batch,
            n_ubatch=plan.n_ubatch,
            use_mmap=plan.use_mmap,
        )
        fit = estimate_fit(facts, trial, available, cpu_features=cpu_features, reserve=reserve)
        if fit.verdict in accept:
            lo = mid
        else:
            hi = mid - 1
    return min(lo * CTX_PAD, limit)


def combined_fit(
    estimates: Sequence[MemoryEstimate], available: int, reserve: int = DEFAULT_RESERVE
) -> tuple[int, Verdict]:
    """Several models loaded at once: each worker process pays its own runtime overhead."""
    total = sum(e.total for e in estimates)
    return total, judge(total, available, reserve)


def estimate_as_quant(
    facts: ModelFacts,
    bits_per_weight: float,
    plan: LoadPlan,
    available: int,
    *,
    reserve: int = DEFAULT_RESERVE,
) -> FitEstimate:
    """The same model re-quantized to a file type of ``bits_per_weight`` (nominal): what would it
    cost? The engine loads without mmap by default, so no repack term appears."""
    weights = int(facts.parameter_count * bits_per_weight / 8)
    memory = MemoryEstimate(
        weights=weights,
        repack=0,
        kv_cache=kv_cache_bytes(facts, plan.n_ctx, plan.kv_type, plan.n_ubatch),
        compute=compute_bytes(facts, plan),
        overhead=RUNTIME_OVERHEAD,
        n_ctx=plan.n_ctx,
        kv_type=plan.kv_type,
        use_mmap=plan.use_mmap,
    )
    return FitEstimate(memory, available, reserve, judge(memory.total, available, reserve))
