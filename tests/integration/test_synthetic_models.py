"""Locally generated models load in llama.cpp, tokenize for real, and generate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.errors import QuantizeError
from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.quantize import quantize_gguf
from desktop_app.core.synthetic_model import CHAT_TEMPLATE, IM_END_ID, IM_START_ID, build_vocab

pytestmark = pytest.mark.integration


def _load(path: Path, n_ctx: int = 256):  # type: ignore[no-untyped-def]
    import llama_cpp

    from desktop_app.core import llama_backend

    llama_backend.llama()  # routes llama.cpp's log into Python logging first
    return llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=1, verbose=True, seed=1)


def test_vocab_has_specials_bytes_and_pieces() -> None:
    tokens, scores, types = build_vocab(1024)
    assert len(tokens) == len(scores) == len(types) == 1024
    assert tokens[IM_START_ID] == "<|im_start|>" and tokens[IM_END_ID] == "<|im_end|>"
    assert tokens[5] == "<0x00>" and tokens[5 + 255] == "<0xFF>"
    assert len(set(tokens)) == 1024
    assert "\u2581the" in tokens


@pytest.mark.parametrize("label", ["F16", "F32", "Q8_0", "Q4_K_M", "Q2_K"])
def test_every_variant_loads_and_generates(tiny_models: dict[str, Path], label: str) -> None:
    llm = _load(tiny_models[label])
    try:
        out = llm.create_completion("Once upon a time", max_tokens=8, temperature=0.0)
        assert out["usage"]["completion_tokens"] > 0
        assert isinstance(out["choices"][0]["text"], str)
    finally:
        llm.close()


def test_tokenizer_is_real(tiny_gguf: Path) -> None:
    llm = _load(tiny_gguf)
    try:
        text = "the model was fast, and the story said hello world"
        toks = llm.tokenize(text.encode(), add_bos=False)
        assert len(toks) < len(text)  # whole pieces, not one token per byte
        assert llm.detokenize(toks).decode().strip() == text
        emoji = "caf\u00e9 \U0001f600 \u05e9\u05dc\u05d5\u05dd"
        assert llm.detokenize(llm.tokenize(emoji.encode(), add_bos=False)).decode().strip() == emoji
        # Special tokens are control tokens only when asked; typed by a user they stay text.
        assert llm.tokenize(b"<|im_start|>", add_bos=False, special=True) == [IM_START_ID]
        assert IM_START_ID not in llm.tokenize(b"<|im_start|>", add_bos=False, special=False)
    finally:
        llm.close()


def test_chat_template_is_stored_and_used(tiny_gguf: Path) -> None:
    llm = _load(tiny_gguf)
    try:
        assert llm.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE
        out = llm.create_chat_completion(
            [{"role": "user", "content": "hi"}], max_tokens=4, temperature=0.0
        )
        assert out["choices"][0]["message"]["role"] == "assistant"
    finally:
        llm.close()


def test_quantized_files_hold_the_quantized_tensor_types(tiny_models: dict[str, Path]) -> None:
    expected = {"Q8_0": "Q8_0", "Q4_K_M": "Q4_K", "Q2_K": "Q2_K"}
    for label, tensor_type in expected.items():
        facts = read_model_facts(tiny_models[label])
        assert facts.quant_label == label
        assert not facts.file_type_guessed
        assert tensor_type in facts.tensor_types
    sizes = [tiny_models[k].stat().st_size for k in ("F32", "F16", "Q8_0", "Q4_K_M", "Q2_K")]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.allow_log_errors
def test_quantize_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + os.urandom(4096))
    target = tmp_path / "out.gguf"
    with pytest.raises(QuantizeError) as info:
        quantize_gguf(garbage, target, "Q4_K_M")
    assert not target.exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    assert info.value.reason  # llama.cpp's own error line is kept for the message


@pytest.mark.allow_log_errors
def test_requantizing_needs_permission(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(QuantizeError, match="returned"):
        quantize_gguf(tiny_models["Q4_K_M"], tmp_path / "again.gguf", "Q2_K")
    assert not (tmp_path / "again.gguf").exists()
    out = quantize_gguf(
        tiny_models["Q4_K_M"], tmp_path / "again.gguf", "Q2_K", allow_requantize=True
    )
    assert read_model_facts(out).quant_label == "Q2_K"


def test_quantize_reports_progress(tiny_gguf: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    quantize_gguf(
        tiny_gguf, tmp_path / "q8.gguf", "Q8_0", on_progress=lambda i, n: seen.append((i, n))
    )
    n_tensors = len(read_model_facts(tiny_gguf).tensors)
    assert seen and seen[-1] == (n_tensors, n_tensors)
