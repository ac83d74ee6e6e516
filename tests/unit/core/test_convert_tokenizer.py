"""Vocabularies: SentencePiece protobuf parsing, byte-level BPE, SPM-style tokenizer.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import pytest

from convert_fakes import (
    LLAMA3_REGEX,
    QWEN2_REGEX,
    make_model,
    spm_model_bytes,
    train_spm,
)
from desktop_app.core.convert import ConvertError, plan_conversion
from desktop_app.core.convert.spm_model import parse_spm_model
from desktop_app.core.convert.tokenizer import choose_pre

T = gguf.TokenType


def test_the_protobuf_is_parsed_without_protobuf() -> None:
    pieces, scores, types, _m = train_spm()
    spm = parse_spm_model(spm_model_bytes(pieces, scores, types, pad_id=-1))
    assert spm.pieces == pieces and spm.types == types
    assert spm.scores == pytest.approx(scores)
    assert (spm.model_type, spm.byte_fallback, spm.add_dummy_prefix) == ("bpe", True, True)
    assert not spm.remove_extra_whitespaces and spm.normalizer == "identity"
    assert spm.special_ids == {"unk": 0, "bos": 1, "eos": 2}  # pad -1: none


@pytest.mark.parametrize(
    "data",
    [b"\x0a", b"\x0a\x05abc", b"\x0b", b"\xff" * 12, b"\x0a\x02\x10\x09", b"", b"\x08"],
)
def test_malformed_protobuf_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the parser has one error type
        parse_spm_model(data)


def test_unigram_sentencepiece_is_refused(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", tokenizer="spm")
    pieces, scores, types, _m = train_spm()
    (folder / "tokenizer.model").write_bytes(spm_model_bytes(pieces, scores, types, model_type=1))
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "f16")
    assert (exc.value.code, exc.value.field) == ("unsupported_tokenizer", "model_type")


def test_spm_vocabulary(tmp_path: Path) -> None:
    folder, _w, cfg, tok = make_model(tmp_path / "m", tokenizer="spm")
    vocab = plan_conversion(folder, "f16").vocab
    assert (vocab.model, vocab.pre, vocab.source) == ("llama", "default", "tokenizer.model")
    n = len(tok["pieces"])
    assert vocab.tokens[:n] == tok["pieces"] and len(vocab.tokens) == cfg["vocab_size"] > n
    assert vocab.types[:3] == [T.UNKNOWN, T.CONTROL, T.CONTROL] and vocab.types[3] == T.BYTE
    assert vocab.tokens[n] == f"[PAD{n}]" and vocab.types[n] == T.UNUSED
    assert vocab.add_space_prefix is True
    assert vocab.special.special_token_ids["bos"] == 1
    assert vocab.special.add_special_token["bos"] is True
    assert vocab.warnings == []


def test_a_broken_tokenizer_model_falls_back_to_tokenizer_json(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", tokenizer="spm-json")
    (folder / "tokenizer.model").write_bytes(b"\x0a\x05ab")
    vocab = plan_conversion(folder, "f16").vocab
    assert vocab.source == "tokenizer.json" and "tokenizer_model_unreadable" in vocab.warnings


def test_a_broken_tokenizer_model_alone_is_an_error(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", tokenizer="spm")
    (folder / "tokenizer.model").write_bytes(b"\x0a\x05ab")
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "f16")
    assert exc.value.code == "bad_tokenizer"


def _tok_json(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "tokenizer.json").read_text())


def _save(folder: Path, data: dict[str, Any]) -> None:
    (folder / "tokenizer.json").write_text(json.dumps(data))


def test_spm_style_json_scores_follow_merge_ranks(tmp_path: Path) -> None:
    folder, _w, _cfg, tok = make_model(tmp_path / "m", tokenizer="spm-json")
    vocab = plan_conversion(folder, "f16").vocab
    assert (vocab.model, vocab.source, vocab.add_space_prefix) == ("llama", "tokenizer.json", True)
    assert vocab.scores is not None
    first_rank: dict[str, int] = {}
    for rank, (a, b) in enumerate(tok["merges"]):
        first_rank.setdefault(a + b, rank)
    for piece, rank in first_rank.items():
        assert vocab.scores[tok["pieces"].index(piece)] == -rank
    assert vocab.scores[tok["pieces"].index("a")] == -1e9  # no merge makes a single letter
    assert vocab.types[tok["pieces"].index("<0x0A>")] == T.BYTE
    assert vocab.types[0] == T.UNKNOWN and vocab.types[1] == T.CONTROL


def test_spm_style_json_without_byte_tokens_warns(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", tokenizer="spm-json")
    data = _tok_json(folder)
    data["model"]["vocab"] = {p: i for p, i in data["model"]["vocab"].items() if p != "<0x0A>"}
    _save(folder, data)
    assert "byte_fallback_incomplete" in plan_conversion(folder, "f16").warnings


@pytest.mark.parametrize("kind", ["qwen2", "llama3"])
def test_byte_level_vocabulary(tmp_path: Path, kind: str) -> None:
    folder, _w, cfg, tok = make_model(tmp_path / "m", "Qwen2ForCausalLM", kind)
    data = _tok_json(folder)
    data["added_tokens"].append({"id": tok["size"], "content": "<tool>", "special": False})
    _save(folder, data)
    vocab = plan_conversion(folder, "f16").vocab
    assert (vocab.model, vocab.scores) == ("gpt2", None)
    assert vocab.pre == {"qwen2": "qwen2", "llama3": "llama-bpe"}[kind]
    assert len(vocab.tokens) == cfg["vocab_size"]
    im_end = tok["added"]["<|im_end|>"]
    assert vocab.tokens[im_end] == "<|im_end|>" and vocab.types[im_end] == T.CONTROL
    assert vocab.tokens[tok["size"]] == "<tool>" and vocab.types[tok["size"]] == T.USER_DEFINED
    assert vocab.types[tok["size"] + 1] == T.UNUSED
    assert len(vocab.special.merges) == len(tok["merges"])
    assert vocab.special.special_token_ids["eos"] == im_end
    assert vocab.warnings == []


def _pre_tokenizer(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"pre_tokenizer": {"type": "Sequence", "pretokenizers": list(nodes)}}


def _split(regex: str) -> dict[str, Any]:
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated"}


BYTE_LEVEL = {"type": "ByteLevel", "use_regex": False}


@pytest.mark.parametrize(
    ("data", "pre"),
    [
        (_pre_tokenizer(_split(LLAMA3_REGEX), BYTE_LEVEL), "llama-bpe"),
        (_pre_tokenizer(_split(QWEN2_REGEX), BYTE_LEVEL), "qwen2"),
        ({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}}, "gpt-2"),
        (_pre_tokenizer(_split(QWEN2_REGEX + "x"), BYTE_LEVEL), None),
        (_pre_tokenizer(_split(QWEN2_REGEX), _split(r"\d"), BYTE_LEVEL), None),
        ({"pre_tokenizer": {"type": "ByteLevel", "use_regex": False}}, None),
        ({"pre_tokenizer": None}, None),
    ],
)
def test_the_pre_tokenizer_table(data: dict[str, Any], pre: str | None) -> None:
    assert choose_pre(data) == pre


def test_an_unknown_pre_tokenizer_falls_back_to_default_with_a_warning(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", "Qwen2ForCausalLM", "qwen2")
    data = _tok_json(folder)
    data["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\w+|\s+"
    _save(folder, data)
    plan = plan_conversion(folder, "f16")
    assert plan.vocab.pre == "default" and "pretokenizer_unrecognized" in plan.warnings


def test_tokens_beyond_the_model_vocabulary_are_dropped(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", "Qwen2ForCausalLM", "qwen2", vocab_size=300)
    plan = plan_conversion(folder, "f16")
    assert len(plan.vocab.tokens) == 300 and "tokens_dropped" in plan.warnings


def test_an_embedding_that_does_not_match_the_config(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", "Qwen2ForCausalLM", "qwen2")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["vocab_size"] -= 10
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "f16")
    assert exc.value.code == "shape_mismatch"
    assert exc.value.tensor == "model.embed_tokens.weight"


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda d: d["model"].update(type="WordPiece"), "unsupported_tokenizer"),
        (lambda d: d["model"].update(type="Unigram"), "unsupported_tokenizer"),
        (lambda d: d.pop("model"), "bad_tokenizer"),
        (lambda d: d["model"]["vocab"].pop("\u010a"), "bad_tokenizer"),  # no newline token
        (lambda d: d["model"]["vocab"].update(dup=0), "bad_tokenizer"),
        (lambda d: d["model"].update(merges=[]), "bad_tokenizer"),
        (lambda d: d["added_tokens"].append({"content": "x"}), "bad_tokenizer"),
    ],
)
def test_bad_tokenizer_json(tmp_path: Path, edit: Any, code: str) -> None:
    folder, *_ = make_model(tmp_path / "m", "Qwen2ForCausalLM", "qwen2")
    data = _tok_json(folder)
    edit(data)
    _save(folder, data)
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "f16")
    assert exc.value.code == code
