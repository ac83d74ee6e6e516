"""Converted tiny HF models run in llama.cpp exactly like the HF model they came from.

Each case builds a random HF folder (tests/convert_fakes.py), converts it to f32 GGUF and
compares llama.cpp's logits with a float64 numpy forward pass written from the HF modelling
code (tests/convert_reference.py): within 1e-3 relative (max |diff| / max |ref|) for every
supported architecture. Tokenization is compared with reference tokenizers that follow the HF
/ sentencepiece algorithms on the vocabularies the tests wrote. Negative controls show the
checks can fail: without the q/k permutation, or with the wrong pre-tokenizer, they do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

import convert_fakes as fakes
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
]


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
    if "rope_scaling" in cfg:  # the scaling is visible at these positions: it is tested
        plain = {k: v for k, v in cfg.items() if k != "rope_scaling"}
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
    return ref.SentencePieceBPE(
        pieces=normal,
        scores={p: tok["scores"][i] for p, i in normal.items()},
        byte_ids={b: tok["pieces"].index(f"<0x{b:02X}>") for b in range(256)},
        specials={"<s>": 1, "</s>": 2},
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


@pytest.mark.parametrize("kind", ["spm", "spm-json", "qwen2", "llama3"])
def test_tokenization_matches_the_reference_tokenizer(tmp_path: Path, kind: str) -> None:
    arch = "Qwen2ForCausalLM" if kind == "qwen2" else "LlamaForCausalLM"
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
        im_start = reference.encode("<|im_start|>")
        if kind in ("qwen2", "llama3"):
            assert llm.tokenize(b"<|im_start|>", add_bos=False, special=False) != im_start
        assert llm.metadata["tokenizer.chat_template"] == fakes.CHAT_TEMPLATE
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
