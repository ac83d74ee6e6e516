"""Before a comparison runs: which variant is the reference, and parallel or one after another.

Parallel when the fit estimate says every variant fits at once (``fit.combined_fit``, each
worker paying its own runtime overhead); generation threads are then shared fairly: each worker
gets ``max(1, default_threads() // n)``, so the workers together never ask for more cores than a
single model would (oversubscribing OpenMP costs 2-10x, backend notes section 6). Otherwise one
after another: load, run, unload, each with the full thread count.
"""

from __future__ import annotations

import psutil

from desktop_app.core import llama_backend
from desktop_app.core.compare.results import CompareSpec, RunMode, RunPlan, VariantInfo
from desktop_app.core.errors import QuantDeskError
from desktop_app.core.fit import LoadPlan, Verdict, combined_fit, estimate_fit, estimate_memory
from desktop_app.core.hardware import default_threads
from desktop_app.core.model_facts import ModelFacts, read_model_facts
from desktop_app.core.quant_types import parse_quant_label

MIN_VARIANTS = 2
MAX_VARIANTS = 4


class CompareSpecError(QuantDeskError):
    """The comparison cannot start as asked (codes: ``variant_count``, ``duplicate``,
    ``reference``, ``no_input``)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail)
        self.code = code


def _label(facts: ModelFacts) -> str:
    if facts.file_type is not None:
        return facts.file_type.label
    match = parse_quant_label(facts.path.rsplit("/", 1)[-1])
    return match.label if match is not None else "unknown"


def _rank(facts: ModelFacts) -> float:
    if facts.file_type is not None:
        return float(facts.file_type.rank)
    return facts.bits_per_weight  # unknown type: more bits, more precision


def reference_index(facts: list[ModelFacts]) -> int:
    """The highest-precision variant: best file-type rank, then more bits per weight."""
    return max(range(len(facts)), key=lambda i: (_rank(facts[i]), facts[i].bits_per_weight))


def check_spec(spec: CompareSpec) -> None:
    n = len(spec.variants)
    if not MIN_VARIANTS <= n <= MAX_VARIANTS:
        raise CompareSpecError("variant_count", f"{n} files; compare takes 2 to 4")
    if len(set(spec.variants)) != n:
        raise CompareSpecError("duplicate", "the same file twice")
    if spec.reference != -1 and not 0 <= spec.reference < n:
        raise CompareSpecError("reference", f"reference {spec.reference} of {n}")
    if (spec.messages is None) == (spec.text is None):
        raise CompareSpecError("no_input", "give either a prompt or a text")


def plan_run(spec: CompareSpec, *, available: int | None = None) -> RunPlan:
    """Read every variant's header and decide. Raises CompareSpecError, or the reader's typed
    errors (GGUFError, FileAccessError) for a file that cannot be read."""
    check_spec(spec)
    facts = [read_model_facts(p) for p in spec.variants]
    if available is None:
        available = int(psutil.virtual_memory().available)
    features = llama_backend.cpu_features()  # the same features the engine's fit check uses
    load_plan = LoadPlan(n_ctx=spec.n_ctx)
    estimates = [estimate_memory(f, load_plan, features) for f in facts]
    infos = tuple(
        VariantInfo(
            path=f.path,
            label=_label(f),
            size_bytes=f.file_size,
            bits_per_weight=f.bits_per_weight or None,
            estimated_bytes=e.total,
            fit=estimate_fit(f, load_plan, available, cpu_features=features).verdict.value,
        )
        for f, e in zip(facts, estimates, strict=True)
    )
    together, verdict = combined_fit(estimates, available)
    threads = default_threads()
    physical = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    if verdict == Verdict.FITS:
        mode, reason = RunMode.PARALLEL, "all_fit"
        per_worker = max(1, threads // len(facts))
        per_worker_batch = max(1, int(physical) // len(facts))
    else:
        mode, reason = RunMode.SEQUENTIAL, "too_big_together"
        per_worker, per_worker_batch = threads, int(physical)
    ref = spec.reference if spec.reference != -1 else reference_index(facts)
    return RunPlan(
        mode=mode,
        reason=reason,
        reference=ref,
        threads=per_worker,
        threads_batch=per_worker_batch,
        variants=infos,
        combined_bytes=together,
        available_bytes=available,
    )
