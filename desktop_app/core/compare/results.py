"""What a comparison produces, and the events it reports while it runs (plain data, no Qt).

The runner (``runner.py``) calls ``on_event`` with the events below from its own thread; the GUI
relays them to its thread, the CLI prints them. Panes are addressed by ``index``: the position of
the variant in ``CompareSpec.variants``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop_app.core.engine.protocol import ChatMessage, GenerationStats, SamplingParams, Token

if TYPE_CHECKING:  # keeps numpy out of the window's start-up (these are only annotations)
    from desktop_app.core.quality.row_metrics import RowBlock
    from desktop_app.core.quality.summary import QualitySummary

# Greedy, so the panes differ only because of the weights; 5 alternatives per token for hovers.
COMPARE_SAMPLING = SamplingParams(
    temperature=0.0,
    top_p=1.0,
    top_k=1,
    min_p=0.0,
    repeat_penalty=1.0,
    seed=0,
    max_tokens=256,
    top_logprobs=5,
)


@dataclass(frozen=True)
class CompareSpec:
    """One comparison. Either ``messages`` (generate a reply in every pane, then score the
    reference's reply in every variant) or ``text`` (score a text: perplexity and KLD only)."""

    variants: tuple[str, ...]  # 2 to 4 GGUF paths
    reference: int = -1  # index into variants; -1: the highest-precision one
    messages: tuple[ChatMessage, ...] | None = None
    text: str | None = None
    sampling: SamplingParams = COMPARE_SAMPLING
    n_ctx: int = 2048
    top_k: int = 5  # alternatives kept per scored position
    max_chunks: int | None = None  # text mode: score at most this many n_ctx chunks


class RunMode(enum.StrEnum):
    PARALLEL = "parallel"  # every variant loaded at once, threads shared
    SEQUENTIAL = "sequential"  # load, run, unload, one after another


@dataclass(frozen=True)
class VariantInfo:
    path: str
    label: str  # quant label, e.g. "Q4_K_M"
    size_bytes: int
    bits_per_weight: float | None
    estimated_bytes: int  # the fit estimate at the spec's n_ctx
    fit: str  # fit.Verdict value for this variant alone


@dataclass(frozen=True)
class RunPlan:
    mode: RunMode
    reason: str  # why: "all_fit" | "too_big_together" | "one_variant"
    reference: int
    threads: int  # generation threads per worker
    threads_batch: int
    variants: tuple[VariantInfo, ...]
    combined_bytes: int  # all variants loaded at once
    available_bytes: int


class PaneState(enum.StrEnum):
    WAITING = "waiting"
    LOADING = "loading"
    GENERATING = "generating"
    SCORING = "scoring"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class VariantResult:
    """One pane's outcome. ``tokens``: its own greedy reply, token by token (empty in text
    mode). ``rows``/``summary``: the reference's text scored by this variant."""

    index: int
    info: VariantInfo
    text: str = ""
    tokens: tuple[Token, ...] = ()
    stats: GenerationStats | None = None
    rows: RowBlock | None = None
    summary: QualitySummary | None = None
    peak_rss_bytes: int = 0
    eval_tps: float | None = None  # scoring speed (tokens evaluated per second)
    error_code: str = ""  # engine ErrorCode value when the pane failed
    error_detail: str = ""
    error_facts: dict[str, int | float | str] = field(default_factory=dict)
    from_cache: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


@dataclass(frozen=True)
class CompareResult:
    spec: CompareSpec
    plan: RunPlan
    variants: tuple[VariantResult, ...]
    scored_tokens: tuple[int, ...] = ()  # the reference's text as scored (continuation only)
    scored_texts: tuple[str, ...] = ()  # the same tokens as text pieces, for heat strips
    cancelled: bool = False

    @property
    def reference(self) -> VariantResult:
        return self.variants[self.plan.reference]


# --- events (runner -> GUI / CLI) --------------------------------------------------------------


@dataclass(frozen=True)
class PlanReady:
    plan: RunPlan


@dataclass(frozen=True)
class PaneStateChanged:
    index: int
    state: PaneState
    detail: str = ""  # e.g. load fraction as text, or the error code
    fraction: float | None = None  # load or scoring progress, 0..1


@dataclass(frozen=True)
class PaneToken:
    index: int
    token: Token


@dataclass(frozen=True)
class PaneFinished:
    result: VariantResult


@dataclass(frozen=True)
class RunFinished:
    result: CompareResult


CompareEvent = PlanReady | PaneStateChanged | PaneToken | PaneFinished | RunFinished
