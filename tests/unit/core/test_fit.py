"""The fit estimate's terms and verdicts, on headers of locally generated models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from desktop_app.core.fit import (
    DEFAULT_RESERVE,
    GIB,
    MIB,
    LoadPlan,
    Verdict,
    combined_fit,
    estimate_as_quant,
    estimate_fit,
    estimate_memory,
    judge,
    kv_cache_bytes,
    max_context,
    repack_types,
)
from desktop_app.core.model_facts import ModelFacts, read_model_facts
from desktop_app.core.synthetic_model import SHAPES, write_model

AVX2 = ("AVX", "AVX2", "FMA", "F16C")


@pytest.fixture(scope="module")
def realistic_facts(tmp_path_factory: pytest.TempPathFactory) -> ModelFacts:
    """Header facts of the 0.5B shape without writing its 1 GB of weights: the tiny file's
    facts with the realistic hyperparameters swapped in."""
    path = write_model(tmp_path_factory.mktemp("fit") / "t.gguf", "tiny")
    facts = read_model_facts(path)
    s = SHAPES["realistic"]
    return replace(
        facts,
        n_layer=s.n_layer,
        n_embd=s.n_embd,
        n_head=s.n_head,
        n_head_kv=s.n_head_kv,
        n_ff=s.n_ff,
        vocab_size=s.n_vocab,
        key_length=s.head_dim,
        value_length=s.head_dim,
    )


def test_kv_cache_matches_llama_cpp_buffer_size(realistic_facts: ModelFacts) -> None:
    # llama.cpp logs "KV buffer size = 192.00 MiB" for this shape at 8192 (backend notes 8).
    assert kv_cache_bytes(realistic_facts, 8192, "f16") == 192 * MIB
    assert kv_cache_bytes(realistic_facts, 4096, "f16") == 96 * MIB
    assert kv_cache_bytes(realistic_facts, 8192, "q8_0") == 102 * MIB
    assert kv_cache_bytes(realistic_facts, 8192, "q4_0") == 54 * MIB


def test_context_is_padded_to_256(realistic_facts: ModelFacts) -> None:
    assert kv_cache_bytes(realistic_facts, 300) == kv_cache_bytes(realistic_facts, 512)
    assert kv_cache_bytes(realistic_facts, 513) > kv_cache_bytes(realistic_facts, 512)


def test_unknown_kv_type_is_rejected(realistic_facts: ModelFacts) -> None:
    with pytest.raises(ValueError, match="kv_type"):
        kv_cache_bytes(realistic_facts, 512, "q5_1")


def test_per_layer_kv_heads_are_summed(realistic_facts: ModelFacts) -> None:
    uneven = replace(realistic_facts, n_head_kv_per_layer=(4,) * 12 + (8,) * 12)
    assert kv_cache_bytes(uneven, 4096) == kv_cache_bytes(realistic_facts, 4096) * 3 // 2


def test_float_file_is_loaded_without_mmap_and_not_repacked(tiny_models: dict[str, Path]) -> None:
    facts = read_model_facts(tiny_models["F16"])
    est = estimate_memory(facts, LoadPlan(n_ctx=2048), AVX2)
    assert est.use_mmap is False
    assert est.repack == 0
    assert est.weights == facts.weights_bytes
    mapped = estimate_memory(facts, LoadPlan(n_ctx=2048, use_mmap=True), AVX2)
    assert mapped.use_mmap is True and mapped.total == est.total  # nothing to hold twice


def test_repacked_types_turn_mmap_off_by_default(tiny_models: dict[str, Path]) -> None:
    facts = read_model_facts(tiny_models["Q4_K_M"])
    auto = estimate_memory(facts, LoadPlan(n_ctx=2048), AVX2)
    forced = estimate_memory(facts, LoadPlan(n_ctx=2048, use_mmap=True), AVX2)
    assert auto.use_mmap is False and auto.repack == 0
    # With mmap forced on, the repacked Q4_K matmul weights are held twice.
    assert forced.repack > 0
    assert forced.total - auto.total == forced.repack
    # token_embd is never repacked (it is read row by row).
    q4k_not_embd = sum(
        b for name, t, b, _ in facts.tensors if t == "Q4_K" and not name.startswith("token_embd")
    )
    assert forced.repack == q4k_not_embd


def test_repack_types_follow_cpu_features() -> None:
    assert repack_types(["SSE3"]) == frozenset()
    assert {"Q4_0", "Q4_K", "IQ4_NL"} <= repack_types(AVX2)
    assert "Q2_K" not in repack_types(AVX2)
    assert "Q2_K" in repack_types([*AVX2, "AVX512"])


def test_flash_attention_off_adds_attention_scratch(realistic_facts: ModelFacts) -> None:
    on = estimate_memory(realistic_facts, LoadPlan(n_ctx=8192, flash_attn=True), AVX2)
    off = estimate_memory(realistic_facts, LoadPlan(n_ctx=8192, flash_attn=False), AVX2)
    # 1.5 * 4 B * 512 * 8192 * 16 heads + 4 B * 512 * 8192 = 400 MiB of KQ scratch.
    assert off.compute - on.compute == 400 * MIB


@pytest.mark.parametrize(
    ("total", "available", "verdict"),
    [
        (1 * GIB, 8 * GIB, Verdict.FITS),
        # 10% margin plus the 1 GiB reserve must stay free for a comfortable fit.
        (6 * GIB, 6 * GIB + -(-6 * GIB // 10) + DEFAULT_RESERVE, Verdict.FITS),
        (6 * GIB, 6 * GIB + -(-6 * GIB // 10) + DEFAULT_RESERVE - 1, Verdict.TIGHT),
        (6 * GIB, 6 * GIB, Verdict.TIGHT),
        (6 * GIB, 6 * GIB - 1, Verdict.DOES_NOT_FIT),
    ],
)
def test_verdict_thresholds(total: int, available: int, verdict: Verdict) -> None:
    assert judge(total, available) is verdict


def test_estimate_fit_reports_numbers_and_verdict(realistic_facts: ModelFacts) -> None:
    fit = estimate_fit(realistic_facts, LoadPlan(n_ctx=4096), 16 * GIB, cpu_features=AVX2)
    data = fit.to_json()
    for key in ("weights", "kv_cache", "compute", "overhead", "total", "verdict"):
        assert key in data
    assert data["total"] == sum(
        data[k] for k in ("weights", "repack", "kv_cache", "compute", "overhead")
    )
    assert data["verdict"] == "fits"
    small = estimate_fit(realistic_facts, LoadPlan(n_ctx=4096), 10 * MIB, cpu_features=AVX2)
    assert small.verdict is Verdict.DOES_NOT_FIT
    assert small.headroom < 0


def test_max_context_is_the_largest_comfortable_one(realistic_facts: ModelFacts) -> None:
    plan = LoadPlan()
    assert max_context(realistic_facts, plan, 64 * GIB, cpu_features=AVX2) == 4096  # trained
    assert max_context(realistic_facts, plan, 1 * MIB, cpu_features=AVX2) == 0
    available = DEFAULT_RESERVE + 170 * MIB
    largest = max_context(realistic_facts, plan, available, cpu_features=AVX2)
    assert 0 < largest < 4096 and largest % 256 == 0
    at = estimate_fit(realistic_facts, LoadPlan(n_ctx=largest), available, cpu_features=AVX2)
    above = estimate_fit(
        realistic_facts, LoadPlan(n_ctx=largest + 256), available, cpu_features=AVX2
    )
    assert at.verdict is Verdict.FITS and above.verdict is not Verdict.FITS


def test_several_models_add_up(realistic_facts: ModelFacts) -> None:
    one = estimate_memory(realistic_facts, LoadPlan(n_ctx=2048), AVX2)
    total, verdict = combined_fit([one, one, one], 64 * GIB)
    assert total == 3 * one.total and verdict is Verdict.FITS
    _total, verdict = combined_fit([one, one, one], one.total * 2)
    assert verdict is Verdict.DOES_NOT_FIT


def test_fewer_bits_cost_less(realistic_facts: ModelFacts) -> None:
    plan = LoadPlan(n_ctx=4096)
    totals = [
        estimate_as_quant(realistic_facts, bpw, plan, 64 * GIB).total
        for bpw in (16.0, 8.5, 4.89, 2.96)
    ]
    assert totals == sorted(totals, reverse=True)
