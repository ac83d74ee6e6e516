"""The GGUF vocabulary of a Hugging Face tokenizer, read without tokenizers or sentencepiece.

Three kinds of tokenizer are understood:

* ``tokenizer.model`` (SentencePiece BPE, Llama 1/2, Mistral, Gemma 2/3, Phi-3): GGUF model
  ``llama``; pieces, scores and types are copied from the protobuf (types equal gguf.TokenType
  one to one); the dummy prefix as the model says (Gemma: none).
* ``tokenizer.json`` with a byte-level BPE (GPT-2, Llama 3, Qwen 2/3): GGUF model ``gpt2``
  with the merges; ``tokenizer.ggml.pre`` names llama.cpp's pre-tokenizer (table below).
* ``tokenizer.json`` with a ``▁``/byte-fallback BPE (Llama-2-style exports, TinyStories):
  GGUF model ``llama``. llama.cpp's SPM tokenizer merges the adjacent pair with the highest
  score, so each token scores ``-rank`` of the first merge that makes it: the highest score is
  then the lowest merge rank, as in BPE (tokens no merge makes score -1e9).

``tokenizer.ggml.pre`` is chosen from the pre-tokenizer the tokenizer itself declares, compared
exactly with the patterns llama.cpp implements:

==================================================  ============  ======================
tokenizer.json pre-tokenizer                        pre           families
==================================================  ============  ======================
Split with the Llama-3 regex (``\\p{N}{1,3}``)      llama-bpe     Llama 3.x, many fine-tunes
Split with the Qwen2 regex (``\\p{N}`` alone)        qwen2         Qwen 1.5/2/2.5/3
ByteLevel(use_regex=true) alone                     gpt-2         GPT-2-style BPEs
anything else                                       default       (warning:
                                                                  ``pretokenizer_unrecognized``)
==================================================  ============  ======================

Added tokens: ``special`` (or ``<|...|>``-looking) ones become CONTROL, others USER_DEFINED.
Special ids, add_bos/add_eos and the chat template come from gguf.SpecialVocab (data only).
Normalizers are not reproduced by llama.cpp: NFC is accepted silently (Qwen), others warn.

Warnings (codes in ``Vocab.warnings``): ``pretokenizer_unrecognized``, ``normalizer_ignored``,
``tokens_dropped`` (ids beyond config.vocab_size), ``tokenizer_model_unreadable`` (fell back
to tokenizer.json), ``byte_fallback_incomplete`` (an SPM vocabulary without all 256 <0xNN>
tokens: llama.cpp aborts on text it cannot map; TinyStories-656K has none of them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import gguf

from desktop_app.core.convert.errors import ConvertError, os_error
from desktop_app.core.convert.hf_model import (
    CONFIG_CAP,
    TOKENIZER_JSON_CAP,
    HFModelFolder,
    read_json,
)
from desktop_app.core.convert.spm_model import parse_spm_model

log = logging.getLogger(__name__)

_T = gguf.TokenType
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE_BY_REGEX = {LLAMA3_REGEX: "llama-bpe", QWEN2_REGEX: "qwen2"}
SPM_CAP = 64 * 1024 * 1024
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
_NO_MERGE_SCORE = -1e9
_QUIET_NORMALIZERS = ("NFC",)


@dataclass
class Vocab:
    model: str  # "llama" (SPM) or "gpt2" (byte-level BPE)
    pre: str
    tokens: list[str]
    scores: list[float] | None
    types: list[int]
    add_space_prefix: bool | None
    special: gguf.SpecialVocab
    source: str
    warnings: list[str] = field(default_factory=list)


def load_vocab(model: HFModelFolder) -> Vocab:
    """Build the vocabulary for ``model.config.vocab_size`` ids (padded with unused tokens)."""
    n_vocab = model.config.vocab_size
    vocab: Vocab | None = None
    warnings: list[str] = []
    if model.tokenizer_model is not None:
        try:
            vocab = _from_spm(model, n_vocab)
        except ConvertError as exc:
            if model.tokenizer_json is None or exc.code != "bad_tokenizer":
                raise
            warnings.append("tokenizer_model_unreadable")
    if vocab is None:
        assert model.tokenizer_json is not None
        vocab = _from_json(model, n_vocab)
    vocab.warnings[:0] = warnings
    return vocab


def write_vocab(writer: gguf.GGUFWriter, vocab: Vocab) -> None:
    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    vocab.special.add_to_gguf(writer, quiet=True)


def _special_vocab(model: HFModelFolder, n_vocab: int, merges: bool) -> gguf.SpecialVocab:
    """gguf's reader of special ids and chat templates; the files it opens are size-capped."""
    extra = [model.path / "chat_template.jinja", model.path / "chat_template.json"]
    extra += list((model.path / "additional_chat_templates").glob("*.jinja"))
    try:
        for path in extra:
            if path.is_file() and path.stat().st_size > CONFIG_CAP:
                raise ConvertError("bad_tokenizer", "chat template over the size cap", path=path)
        return gguf.SpecialVocab(model.path, load_merges=merges, n_vocab=n_vocab)
    except OSError as exc:
        raise os_error(exc, model.path) from exc
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ConvertError("bad_tokenizer", f"special tokens: {exc}", path=model.path) from exc


def _looks_special(text: str) -> bool:
    return (text.startswith("<|") and text.endswith("|>")) or text in ("<pad>", "<mask>")


# --- SentencePiece tokenizer.model ---------------------------------------------------------


def _from_spm(model: HFModelFolder, n_vocab: int) -> Vocab:
    path = model.tokenizer_model
    assert path is not None
    try:
        if path.stat().st_size > SPM_CAP:
            raise ConvertError("bad_tokenizer", "tokenizer.model over the size cap", path=path)
        spm = parse_spm_model(path.read_bytes())
    except OSError as exc:
        raise os_error(exc, path) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConvertError("bad_tokenizer", f"tokenizer.model: {exc}", path=path) from exc
    if spm.model_type != "bpe":
        raise ConvertError(
            "unsupported_tokenizer",
            f"SentencePiece {spm.model_type}",
            path=path,
            field="model_type",
        )
    if spm.treat_whitespace_as_suffix:
        raise ConvertError("unsupported_tokenizer", path=path, field="treat_whitespace_as_suffix")
    warnings: list[str] = []
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [-1000.0] * n_vocab
    types = [int(_T.UNUSED)] * n_vocab
    for i, (piece, score, ptype) in enumerate(zip(spm.pieces, spm.scores, spm.types, strict=True)):
        if i >= n_vocab:
            warnings.append("tokens_dropped")
            break
        tokens[i], scores[i], types[i] = piece, score, ptype
    _apply_added_tokens(model, tokens, scores, types, warnings)
    if types.count(int(_T.BYTE)) < 256:
        warnings.append("byte_fallback_incomplete")  # see _spm_style
    add_prefix: bool = spm.add_dummy_prefix
    if isinstance(model.tokenizer_config.get("add_prefix_space"), bool):
        add_prefix = model.tokenizer_config["add_prefix_space"]
    special = _special_vocab(model, n_vocab, merges=False)
    for name, token_id in spm.special_ids.items():
        if token_id < n_vocab:
            special.special_token_ids.setdefault(name, token_id)
    return Vocab(
        "llama", "default", tokens, scores, types, add_prefix, special, "tokenizer.model", warnings
    )


def _apply_added_tokens(
    model: HFModelFolder,
    tokens: list[str],
    scores: list[float],
    types: list[int],
    warnings: list[str],
) -> None:
    """tokenizer_config.json's added_tokens_decoder (as the official converter does)."""
    decoder = model.tokenizer_config.get("added_tokens_decoder", {})
    if not isinstance(decoder, dict):
        return
    for key, data in decoder.items():
        if not str(key).isdigit() or not isinstance(data, dict):
            continue
        token_id, content = int(key), data.get("content")
        if not isinstance(content, str):
            continue
        if token_id >= len(tokens):
            warnings.append("tokens_dropped")
            continue
        if data.get("special") or _looks_special(content):
            types[token_id] = int(_T.CONTROL)
        else:
            content = content.replace("\u2581", " ")
            types[token_id] = int(_T.USER_DEFINED)
        tokens[token_id] = content
        scores[token_id] = -1000.0


# --- tokenizer.json ------------------------------------------------------------------------


def _from_json(model: HFModelFolder, n_vocab: int) -> Vocab:
    path = model.tokenizer_json
    assert path is not None
    data = read_json(path, TOKENIZER_JSON_CAP, "bad_tokenizer")
    bpe = data.get("model") if isinstance(data, dict) else None
    if not isinstance(bpe, dict):
        raise ConvertError("bad_tokenizer", "no model section", path=path)
    if bpe.get("type") != "BPE":
        raise ConvertError(
            "unsupported_tokenizer",
            f"model type {str(bpe.get('type'))[:40]}",
            path=path,
            field="model.type",
        )
    vocab_map = bpe.get("vocab")
    if not isinstance(vocab_map, dict) or not vocab_map:
        raise ConvertError("bad_tokenizer", "no vocab", path=path)
    by_id: dict[int, str] = {}
    for text, token_id in vocab_map.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise ConvertError("bad_tokenizer", f"bad id for {text[:40]!r}", path=path)
        if token_id in by_id:
            raise ConvertError("bad_tokenizer", f"id {token_id} used twice", path=path)
        by_id[token_id] = text
    added = _added_tokens(data, path)
    if _is_byte_level(data):
        return _byte_level(model, data, by_id, added, n_vocab)
    if bpe.get("byte_fallback") or _escapes_spaces(data):
        return _spm_style(model, data, by_id, added, n_vocab)
    raise ConvertError(
        "unsupported_tokenizer",
        "BPE without byte-level or \u2581",
        path=path,
        field="pre_tokenizer",
    )


def _added_tokens(data: dict[str, Any], path: Any) -> list[tuple[int, str, bool]]:
    out: list[tuple[int, str, bool]] = []
    for item in data.get("added_tokens") or []:
        if not isinstance(item, dict):
            raise ConvertError("bad_tokenizer", "added token is not an object", path=path)
        token_id, content = item.get("id"), item.get("content")
        if not isinstance(token_id, int) or token_id < 0 or not isinstance(content, str):
            raise ConvertError("bad_tokenizer", "added token without id/content", path=path)
        out.append((token_id, content, bool(item.get("special"))))
    return out


def _components(node: Any) -> list[dict[str, Any]]:
    """A normalizer/pre-tokenizer/decoder and, for a Sequence, its parts (flattened)."""
    if not isinstance(node, dict):
        return []
    parts = node.get("pretokenizers") or node.get("normalizers") or node.get("decoders")
    if node.get("type") == "Sequence" and isinstance(parts, list):
        return [c for p in parts for c in _components(p)]
    return [node]


def _is_byte_level(data: dict[str, Any]) -> bool:
    nodes = _components(data.get("pre_tokenizer")) + _components(data.get("decoder"))
    return any(n.get("type") == "ByteLevel" for n in nodes)


def _escapes_spaces(data: dict[str, Any]) -> bool:
    for n in _components(data.get("pre_tokenizer")):
        if n.get("type") == "Metaspace":
            return True
    for n in _components(data.get("normalizer")):
        pattern = n.get("pattern")
        if (
            n.get("type") == "Replace"
            and isinstance(pattern, dict)
            and pattern.get("String") == " "
            and n.get("content") == "\u2581"
        ):
            return True
    return False


def choose_pre(data: dict[str, Any]) -> str | None:
    """llama.cpp's pre-tokenizer name for a byte-level tokenizer.json, None if unknown."""
    nodes = _components(data.get("pre_tokenizer"))
    regexes = [
        n["pattern"]["Regex"]
        for n in nodes
        if n.get("type") == "Split"
        and isinstance(n.get("pattern"), dict)
        and isinstance(n["pattern"].get("Regex"), str)
    ]
    splits = [n for n in nodes if n.get("type") == "Split"]
    if len(regexes) == 1 and len(splits) == 1:
        return PRE_BY_REGEX.get(regexes[0])
    byte_level = [n for n in nodes if n.get("type") == "ByteLevel"]
    if not splits and len(nodes) == 1 and byte_level and byte_level[0].get("use_regex", True):
        return "gpt-2"
    return None


def _normalizer_warnings(data: dict[str, Any]) -> list[str]:
    kinds = {n.get("type") for n in _components(data.get("normalizer"))}
    kinds -= {"Prepend", "Replace", *_QUIET_NORMALIZERS}
    return ["normalizer_ignored"] if kinds else []


def _fill(n_vocab: int, by_id: dict[int, str], warnings: list[str]) -> tuple[list[str], list[int]]:
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [int(_T.UNUSED)] * n_vocab
    for token_id, text in by_id.items():
        if token_id >= n_vocab:
            if "tokens_dropped" not in warnings:
                warnings.append("tokens_dropped")
            continue
        tokens[token_id], types[token_id] = text, int(_T.NORMAL)
    return tokens, types


def _apply_added(
    added: list[tuple[int, str, bool]],
    tokens: list[str],
    types: list[int],
    warnings: list[str],
) -> None:
    for token_id, content, special in added:
        if token_id >= len(tokens):
            if "tokens_dropped" not in warnings:
                warnings.append("tokens_dropped")
            continue
        tokens[token_id] = content
        types[token_id] = int(_T.CONTROL if special or _looks_special(content) else _T.USER_DEFINED)


def _byte_level(
    model: HFModelFolder,
    data: dict[str, Any],
    by_id: dict[int, str],
    added: list[tuple[int, str, bool]],
    n_vocab: int,
) -> Vocab:
    warnings = _normalizer_warnings(data)
    pre = choose_pre(data)
    if pre is None:
        pre = "default"
        warnings.append("pretokenizer_unrecognized")
    tokens, types = _fill(n_vocab, by_id, warnings)
    if "\u010a" not in by_id.values():  # byte-level "\n": llama.cpp aborts loading without it
        raise ConvertError("bad_tokenizer", "no newline token", path=model.tokenizer_json)
    _apply_added(added, tokens, types, warnings)
    special = _special_vocab(model, n_vocab, merges=True)
    if not special.merges:
        raise ConvertError("bad_tokenizer", "no merges", path=model.tokenizer_json)
    return Vocab("gpt2", pre, tokens, None, types, None, special, "tokenizer.json", warnings)


def _merge_pairs(merges: Any, path: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for m in merges or []:
        if isinstance(m, str) and m.count(" ") == 1:
            a, b = m.split(" ")
        elif isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m):
            a, b = m
        else:
            raise ConvertError("bad_tokenizer", f"bad merge {str(m)[:40]!r}", path=path)
        pairs.append((a, b))
    return pairs


def _spm_style(
    model: HFModelFolder,
    data: dict[str, Any],
    by_id: dict[int, str],
    added: list[tuple[int, str, bool]],
    n_vocab: int,
) -> Vocab:
    path = model.tokenizer_json
    warnings = _normalizer_warnings(data)
    tokens, types = _fill(n_vocab, by_id, warnings)
    ids = {text: i for i, text in by_id.items() if i < n_vocab}
    scores = [_NO_MERGE_SCORE] * n_vocab
    for rank, (a, b) in enumerate(_merge_pairs(data["model"].get("merges"), path)):
        token_id = ids.get(a + b)
        if token_id is not None and scores[token_id] == _NO_MERGE_SCORE:
            scores[token_id] = -float(rank)
    for text, token_id in ids.items():
        if _BYTE_TOKEN.fullmatch(text):
            types[token_id] = int(_T.BYTE)
    _apply_added(added, tokens, types, warnings)
    if types.count(int(_T.BYTE)) < 256:
        # llama.cpp has no unknown-token path for SPM: a character outside the vocabulary
        # whose <0xNN> byte token is missing aborts the process (std::out_of_range).
        warnings.append("byte_fallback_incomplete")
    unk = data["model"].get("unk_token")
    if isinstance(unk, str) and unk in ids:
        types[ids[unk]] = int(_T.UNKNOWN)
    special = _special_vocab(model, n_vocab, merges=False)
    return Vocab(
        "llama",
        "default",
        tokens,
        scores,
        types,
        _json_space_prefix(data),
        special,
        "tokenizer.json",
        warnings,
    )


def _json_space_prefix(data: dict[str, Any]) -> bool:
    for n in _components(data.get("normalizer")):
        if n.get("type") == "Prepend" and n.get("prepend") == "\u2581":
            return True
    for n in _components(data.get("pre_tokenizer")):
        if n.get("type") == "Metaspace":
            scheme = n.get("prepend_scheme")
            if scheme is None:
                return bool(n.get("add_prefix_space", True))
            return scheme in ("always", "first")
    return False
