"""Converted tiny HF models run in llama.cpp exactly like the HF model they came from.

Each case builds a random HF folder (tests/convert_fakes.py), converts it to f32 GGUF and
compares llama.cpp's logits with a float64 numpy forward pass written from the HF modelling
code (tests/convert_reference.py): within 1e-3 relative (max |diff| / max |ref|) for every
supported architecture. Tokenization is compared with reference tokenizers that follow the HF
/ sentencepiece algorithms on the vocabularies the tests wrote. Negative controls show the
checks can fail: without the q/k permutation, Gemma's ``1 + weight`` norms or its query-scale
fold, or with the wrong pre-tokenizer, they do. Gemma cases use a sliding window shorter than
the test sequence, so the window itself is compared too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

import convert_fakes as fakes
import convert_fakes_families as families
import convert_reference as ref
from desktop_app.core.convert import convert_hf_to_gguf
from desktop_app.core.convert import tensors as tensors_mod
from desktop_app.core.convert import tokenizer as tokenizer_mod

pytestmark = pytest.mark.integration

LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 256,  # puts the tiny head_dim's bands in all 3 regimes
}
CASES: dict[str, dict[str, Any]] = {
    "llama-spm": {"arch": "LlamaForCausalLM", "tokenizer": "spm"},
    "llama3-bf16-sharded": {
        "arch": "LlamaForCausalLM",
        "tokenizer": "llama3",
        "dtype": "BF16",
        "shards": 3,
        "rope_scaling": LLAMA3_ROPE,
        "attention_bias": True,
    },
    "mistral-f16-tied-lmhead": {
        "arch": "MistralForCausalLM",
        "tokenizer": "spm-json",
        "dtype": "F16",
        "tie_word_embeddings": True,
        "stored": "lm_head",
        "head_dim": 24,
        "rope_scaling": {"type": "linear", "factor": 2.0},
    },
    "qwen2-tied": {
        "arch": "Qwen2ForCausalLM",
        "tokenizer": "qwen2",
        "tie_word_embeddings": True,
        "stored": "embed",
        "rope_theta": 1_000_000.0,
    },
    "qwen3": {"arch": "Qwen3ForCausalLM", "tokenizer": "qwen2", "head_dim": 32},
    # Gemma 2: a window of 8 over the 24 test tokens, so the sliding layers differ for real
    "gemma2": {"arch": "Gemma2ForCausalLM", "tokenizer": "gemma-spm", "sliding_window": 8},
    # query_pre_attn_scalar != head_dim: the converter folds the ratio into the queries
    "gemma2-bf16-qscale": {
        "arch": "Gemma2ForCausalLM",
        "tokenizer": "gemma-spm",
        "dtype": "BF16",
        "query_pre_attn_scalar": 20,
        "stored": "embed",
    },
    # Gemma 3: layer 0 sliding (window 8, local rope base), layer 1 global (rope_theta with
    # linear scaling, which HF applies to global layers only), a final softcap
    "gemma3": {
        "arch": "Gemma3ForCausalLM",
        "tokenizer": "gemma-spm",
        "sliding_window": 8,
        "sliding_window_pattern": 2,
        "rope_local_base_freq": 500.0,  # not llama.cpp's default: the written value is used
        "rope_scaling": {"rope_type": "linear", "factor": 4.0},
        "final_logit_softcapping": 30.0,
    },
    # Gemma 3 with per-layer kinds as transformers 4.5x writes them, F16, a q-norm scale fold
    "gemma3-f16-layer-types": {
        "arch": "Gemma3ForCausalLM",
        "tokenizer": "gemma-spm",
        "dtype": "F16",
        "num_hidden_layers": 3,
        "layer_types": ["full_attention", "sliding_attention", "sliding_attention"],
        "sliding_window": 5,
        "query_pre_attn_scalar": 48,
    },
    # Phi-3: fused qkv and gate/up, half of each head rotated
    "phi3": {"arch": "Phi3ForCausalLM", "tokenizer": "phi3-spm"},
    "phi3-bf16-tied-full-rotary": {
        "arch": "Phi3ForCausalLM",
        "tokenizer": "phi3-spm",
        "dtype": "BF16",
        "partial_rotary_factor": 1.0,
        "num_key_value_heads": 4,
        "tie_word_embeddings": True,
        "stored": "embed",
    },
}
STRINGS = [
    "Hello world",
    "Once upon a time there was a little model.",
    "The quick brown fox's 123 jumps, 4567 times!",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\n\n  indented\n",
    "multiple     spaces    here",
    "Café naïve façade déjà vu",
    "日本語のテキスト Привет",
    "emoji 🚀🦙 and 😶\u200d🌫️ clouds",
    "I'LL say we'Ve GOT it",
    "(normal) text.\nEnd.\n\nNext 333 4444 55555",
    "1234567890",
    "x",
    "<|im_start|>user\nHi there<|im_end|>\n",
    "<s>Hello</s> world",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<bos>Hello<eos> world",
    "<|user|>\n  Hi there<|end|>\n<|assistant|>\n",
]
TOKENIZER_ARCH = {
    "qwen2": "Qwen2ForCausalLM",
    "gemma-spm": "Gemma2ForCausalLM",
    "phi3-spm": "Phi3ForCausalLM",
}


def _build(tmp: Path, case: str) -> tuple[Path, dict[str, np.ndarray], dict[str, Any], dict]:
    kw = dict(CASES[case])
    return fakes.make_model(tmp / case, kw.pop("arch"), kw.pop("tokenizer"), **kw)


def _load(path: Path, **kw: Any) -> Any:
    import llama_cpp

    from desktop_app.core import llama_backend

    llama_backend.llama()  # llama.cpp's log into Python logging
    return llama_cpp.Llama(str(path), n_threads=1, verbose=True, seed=1, **kw)


def _logits(path: Path, ids: list[int]) -> np.ndarray:
    import llama_cpp

    llm = _load(
        path,
        n_ctx=64,
        n_batch=64,
        logits_all=True,
        type_k=llama_cpp.GGML_TYPE_F32,
        type_v=llama_cpp.GGML_TYPE_F32,
    )
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float64)
    finally:
        llm.close()


def _ids(cfg: dict[str, Any], n: int = 24) -> list[int]:
    return [int(i) for i in np.random.default_rng(7).integers(0, cfg["vocab_size"], n)]


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("case", list(CASES))
def test_f32_logits_match_the_reference_forward_pass(tmp_path: Path, case: str) -> None:
    folder, weights, cfg, _tok = _build(tmp_path, case)
    out = convert_hf_to_gguf(folder, tmp_path / f"{case}.gguf", "f32")
    ids = _ids(cfg)
    want = ref.reference_logits(weights, cfg, ids)
    assert _rel(_logits(out, ids), want) < 1e-3
    for key in ("rope_scaling", "sliding_window"):  # what the test relies on is visible
        if key in CASES[case]:
            plain = {k: v for k, v in cfg.items() if k != key}
            assert _rel(ref.reference_logits(weights, plain, ids), want) > 1e-2


def test_without_the_qk_permutation_llama_logits_are_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: the comparison above does catch a missing permutation."""
    folder, weights, cfg, _tok = _build(tmp_path, "llama-spm")
    monkeypatch.setattr(tensors_mod, "rope_row_order", lambda n, _h: np.arange(n))
    out = convert_hf_to_gguf(folder, tmp_path / "unpermuted.gguf", "f32")
    ids = _ids(cfg)
    assert _rel(_logits(out, ids), ref.reference_logits(weights, cfg, ids)) > 1e-2


@pytest.mark.parametrize(("outtype", "tolerance"), [("f16", 5e-3), ("bf16", 3e-2), ("q8_0", 3e-2)])
def test_other_outtypes_stay_close(tmp_path: Path, outtype: str, tolerance: float) -> None:
    folder, weights, cfg, _tok = _build(tmp_path, "llama-spm")
    out = convert_hf_to_gguf(folder, tmp_path / f"m-{outtype}.gguf", outtype)
    ids = _ids(cfg)
    assert _rel(_logits(out, ids), ref.reference_logits(weights, cfg, ids)) < tolerance
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert types["blk.0.ffn_down.weight"] == outtype.upper()
    # intermediate_size 96 is a multiple of 32, hidden 64 too: nothing fell back to F16
    assert set(types.values()) == {"F32", outtype.upper()}


def _reference_tokenizer(kind: str, tok: dict[str, Any]) -> Any:
    if kind in ("qwen2", "llama3"):
        pattern = ref.PY_QWEN2 if kind == "qwen2" else ref.PY_LLAMA3
        return ref.ByteLevelBPE(
            tok["vocab"], tok["merges"], tok["added"], pattern, ignore_merges=kind == "llama3"
        )
    normal = {p: i for i, (p, t) in enumerate(zip(tok["pieces"], tok["types"], strict=True))}
    normal = {p: i for p, i in normal.items() if tok["types"][i] == 1}
    specials = {"<s>": 1, "</s>": 2}
    rstrip: frozenset[str] = frozenset()
    if kind == "gemma-spm":  # every non-byte piece before the vocabulary proper is special
        specials = {p: i for i, p in enumerate(tok["pieces"]) if tok["types"][i] in (3, 4)}
    elif kind == "phi3-spm":
        specials.update(tok["added"])
        # HF marks these rstrip; llama.cpp does the same for a model *named* Phi-3
        rstrip = frozenset({"</s>"} | {t for t, r in families.PHI3_ADDED if r})
    return ref.SentencePieceBPE(
        pieces=normal,
        scores={p: tok["scores"][i] for p, i in normal.items()},
        byte_ids={b: tok["pieces"].index(f"<0x{b:02X}>") for b in range(256)},
        specials=specials,
        add_dummy_prefix=kind != "gemma-spm",  # Gemma's tokenizer.model has no dummy prefix
        rstrip=rstrip,
        by_rank={tuple(m): i for i, m in enumerate(tok["merges"])} if kind == "spm-json" else None,
    )


def _mismatches(path: Path, reference: Any) -> list[str]:
    llm = _load(path, n_ctx=64, vocab_only=True)
    try:
        return [
            s
            for s in STRINGS
            if llm.tokenize(s.encode(), add_bos=False, special=True) != reference.encode(s)
        ]
    finally:
        llm.close()


@pytest.mark.parametrize("kind", ["spm", "spm-json", "qwen2", "llama3", "gemma-spm", "phi3-spm"])
def test_tokenization_matches_the_reference_tokenizer(tmp_path: Path, kind: str) -> None:
    arch = TOKENIZER_ARCH.get(kind, "LlamaForCausalLM")
    folder, _w, _cfg, tok = fakes.make_model(tmp_path / kind, arch, kind)
    out = convert_hf_to_gguf(folder, tmp_path / f"{kind}.gguf", "f32")
    reference = _reference_tokenizer(kind, tok)
    assert _mismatches(out, reference) == []
    # the vocabularies merge for real: words become single tokens
    assert len(reference.encode("Once upon a time")) < 8
    llm = _load(out, n_ctx=64, vocab_only=True)
    try:
        with_bos = llm.tokenize(b"Hello", add_bos=True, special=False)
        if kind == "qwen2":  # Qwen adds no BOS
            assert with_bos == reference.encode("Hello")
        else:
            assert with_bos[0] == llm.token_bos() and with_bos[1:] == reference.encode("Hello")
        # typed by a user, special tokens stay text
        turn = {"gemma-spm": "<start_of_turn>", "phi3-spm": "<|user|>"}.get(kind, "<|im_start|>")
        if kind in ("qwen2", "llama3", "gemma-spm", "phi3-spm"):
            typed = llm.tokenize(turn.encode(), add_bos=False, special=False)
            assert typed != reference.encode(turn) and len(typed) > 1
        template = {"gemma-spm": families.GEMMA_TEMPLATE, "phi3-spm": families.PHI3_TEMPLATE}
        assert llm.metadata["tokenizer.chat_template"] == template.get(kind, fakes.CHAT_TEMPLATE)
    finally:
        llm.close()


@pytest.mark.parametrize(
    ("kind", "wrong"),
    [("qwen2", "default"), ("qwen2", "gpt-2"), ("llama3", "default"), ("llama3", "qwen2")],
)
def test_a_wrong_pre_tokenizer_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, wrong: str
) -> None:
    """Negative control for the pre-tokenizer table: the wrong choice mis-tokenizes."""
    folder, _w, _cfg, tok = fakes.make_model(tmp_path / kind, "LlamaForCausalLM", kind)
    monkeypatch.setattr(tokenizer_mod, "choose_pre", lambda _data: wrong)
    out = convert_hf_to_gguf(folder, tmp_path / f"{kind}-{wrong}.gguf", "f32")
    assert _mismatches(out, _reference_tokenizer(kind, tok))


def test_metadata_of_a_converted_model(tmp_path: Path) -> None:
    folder, _w, cfg, _tok = _build(tmp_path, "qwen3")
    out = convert_hf_to_gguf(folder, tmp_path / "q3.gguf", "f16")
    reader = gguf.GGUFReader(out)

    def value(key: str) -> Any:
        return reader.fields[key].contents()

    assert value("general.architecture") == "qwen3"
    assert value("general.file_type") == int(gguf.LlamaFileType.MOSTLY_F16)
    assert value("qwen3.attention.key_length") == 32  # head_dim != hidden / heads
    assert value("qwen3.block_count") == cfg["num_hidden_layers"]
    assert value("tokenizer.ggml.model") == "gpt2"
    assert value("tokenizer.ggml.pre") == "qwen2"
    assert len(value("tokenizer.ggml.tokens")) == cfg["vocab_size"]
    assert value("general.sampling.top_k") == 40
    names = {t.name for t in reader.tensors}
    assert "blk.1.attn_k_norm.weight" in names and "output.weight" in names


@pytest.mark.parametrize(
    ("case", "broken"),
    [
        ("gemma2", "norm_shift"),  # Gemma's norms multiply by 1 + weight
        ("gemma2-bf16-qscale", "query_fold"),  # HF's query_pre_attn_scalar, not head_dim
    ],
)
def test_without_gemmas_tensor_changes_logits_are_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, broken: str
) -> None:
    """Negative controls: the comparison catches a missing ``+ 1`` or query fold."""
    real = tensors_mod.gemma_transform

    def without(cfg: Any, name: str) -> tuple[float, float]:
        shift, scale = real(cfg, name)
        return (0.0, scale) if broken == "norm_shift" else (shift, 1.0)

    monkeypatch.setattr(tensors_mod, "gemma_transform", without)
    folder, weights, cfg, _tok = _build(tmp_path, case)
    out = convert_hf_to_gguf(folder, tmp_path / f"{broken}.gguf", "f32")
    ids = _ids(cfg)
    assert _rel(_logits(out, ids), ref.reference_logits(weights, cfg, ids)) > 1e-2


@pytest.mark.parametrize(
    ("case", "outtype", "tolerance"),
    [("gemma2-bf16-qscale", "q8_0", 3e-2), ("gemma3", "f16", 5e-3), ("phi3", "q8_0", 3e-2)],
)
def test_new_families_in_other_outtypes(
    tmp_path: Path, case: str, outtype: str, tolerance: float
) -> None:
    folder, weights, cfg, _tok = _build(tmp_path, case)
    out = convert_hf_to_gguf(folder, tmp_path / f"{case}-{outtype}.gguf", outtype)
    ids = _ids(cfg)
    assert _rel(_logits(out, ids), ref.reference_logits(weights, cfg, ids)) < tolerance


def test_metadata_of_gemma_and_phi3(tmp_path: Path) -> None:
    def fields(case: str) -> tuple[dict[str, Any], set[str]]:
        folder, _w, _cfg, _tok = _build(tmp_path, case)
        reader = gguf.GGUFReader(convert_hf_to_gguf(folder, tmp_path / f"{case}.gguf", "f16"))
        values = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tok")}
        values["add_space_prefix"] = reader.fields["tokenizer.ggml.add_space_prefix"].contents()
        values["bos"] = reader.fields["tokenizer.ggml.bos_token_id"].contents()
        return values, {t.name for t in reader.tensors}

    g2, names = fields("gemma2")
    assert g2["general.architecture"] == "gemma2"
    assert (g2["gemma2.attn_logit_softcapping"], g2["gemma2.final_logit_softcapping"]) == (50, 30)
    assert g2["gemma2.attention.sliding_window"] == 8
    assert g2["gemma2.attention.sliding_window_pattern"] == [True, False]
    assert g2["gemma2.attention.key_length"] == 32
    assert g2["add_space_prefix"] is False and g2["bos"] == 2  # Gemma's <bos>
    assert "output.weight" not in names and "blk.1.post_ffw_norm.weight" in names
    g3, names = fields("gemma3")
    assert g3["gemma3.rope.freq_base"] == 1e6 and g3["gemma3.rope.freq_base_swa"] == 500
    assert g3["gemma3.attention.sliding_window_pattern"] == [True, False]
    assert g3["gemma3.rope.scaling.factor"] == 4 and "gemma3.attn_logit_softcapping" not in g3
    assert "blk.0.attn_q_norm.weight" in names
    p3, names = fields("phi3")
    assert p3["general.architecture"] == "phi3" and p3["phi3.rope.dimension_count"] == 8
    assert p3["phi3.rope.scaling.original_context_length"] == 256
    assert {"blk.0.attn_qkv.weight", "blk.0.ffn_up.weight"} <= names
    assert not any(n.endswith(("attn_q.weight", "ffn_gate.weight")) for n in names)
