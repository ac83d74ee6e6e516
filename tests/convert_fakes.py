"""Tiny Hugging Face model folders for the converter tests, built from nothing.

* ``write_safetensors``: an independent safetensors writer (header JSON + data, 8-aligned
  header padded with spaces like the reference writer), with hooks to break it on purpose.
* ``train_byte_bpe`` / ``train_spm``: tiny BPE trainers on a fixed corpus, so vocabularies and
  merges are real (every merge is reachable) and tokenization is non-trivial.
* ``tokenizer_json_*`` / ``write_spm_model``: the files as HF and sentencepiece store them; the
  protobuf is written by hand (field numbers in desktop_app/core/convert/spm_model.py).
* ``make_model``: config.json, generation_config.json, tokenizer files and random weights for
  one architecture; returns the folder, the HF-layout weights and the config.
"""

from __future__ import annotations

import json
import re
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import convert_fakes_families as families
from convert_reference import BYTE_MAP, PY_LLAMA3, PY_QWEN2

# The Split regexes exactly as Qwen2's and Llama 3's tokenizer.json files carry them.
QWEN2_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
LLAMA3_REGEX = QWEN2_REGEX.replace("\\p{N}|", "\\p{N}{1,3}|")

CORPUS = (
    "Once upon a time there was a little model that wanted to run on a laptop. "
    "The model was small, but it could tell stories about the quick brown fox. "
    "It's 2024 and we've got 12345 reasons to quantize: memory, speed, and fun! "
    "Café naïve façade déjà vu. 日本語のテキストを読む。 Привет мир. "
    "Emoji time 🚀🦙😀 and more 🚀 rockets. "
    "    indented code\n\tdef f(x):\n\t\treturn x + 1\n\n"
    "(normal) (mixed) I'LL say WE'VE it's OK.\nEnd.\n\nNext line!\n 333 4444 55555 2024. "
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)
DTYPE_CODES = {"F32": "<f4", "F16": "<f2"}


def to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest even), as uint16 bit patterns."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def quantize_like(values: np.ndarray, dtype: str) -> np.ndarray:
    """The float32 values a tensor has after being stored as ``dtype``."""
    if dtype == "BF16":
        return from_bf16_bits(to_bf16_bits(values))
    return values.astype(DTYPE_CODES[dtype]).astype(np.float32)


def write_safetensors(
    path: Path,
    tensors: dict[str, np.ndarray],
    dtype: str = "F32",
    *,
    edit_header: Any = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write tensors (float arrays) as ``dtype``; ``edit_header(header)`` may change the JSON."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, arr in tensors.items():
        if dtype == "BF16":
            raw = to_bf16_bits(arr).tobytes()
        else:
            raw = np.ascontiguousarray(arr, dtype=DTYPE_CODES[dtype]).tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    if edit_header is not None:
        edit_header(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


# --- tokenizers ----------------------------------------------------------------------------


def _train(words: Counter[tuple[str, ...]], n_merges: int) -> list[tuple[str, str]]:
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, freq in words.items():
            for a, b in zip(word, word[1:], strict=False):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged: Counter[tuple[str, str]] = Counter()
        for word, freq in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged
    return merges


def train_byte_bpe(pattern: str, n_merges: int = 220) -> tuple[dict[str, int], list]:
    """Byte-level vocab (256 byte symbols, then merge results) and merges."""
    words: Counter[tuple[str, ...]] = Counter()
    for word in re.findall(pattern, CORPUS * 3):
        words[tuple(BYTE_MAP[b] for b in word.encode("utf-8"))] += 1
    merges = _train(words, n_merges)
    vocab = {BYTE_MAP[b]: i for i, b in enumerate(sorted(BYTE_MAP))}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def tokenizer_json_byte_level(kind: str) -> tuple[dict[str, Any], dict[str, int], list, dict]:
    """A Qwen2- or Llama-3-style tokenizer.json; returns it, vocab, merges, added tokens."""
    hf_regex, py_regex = (QWEN2_REGEX, PY_QWEN2) if kind == "qwen2" else (LLAMA3_REGEX, PY_LLAMA3)
    vocab, merges = train_byte_bpe(py_regex)
    added = {s: len(vocab) + i for i, s in enumerate(SPECIALS)}
    data = {
        "version": "1.0",
        "added_tokens": [
            {
                "id": i,
                "content": s,
                "special": True,
                "normalized": False,
                "lstrip": False,
                "rstrip": False,
                "single_word": False,
            }
            for s, i in added.items()
        ],
        "normalizer": {"type": "NFC"} if kind == "qwen2" else None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": hf_regex},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": False,
                    "use_regex": False,
                },
            ],
        },
        "post_processor": {"type": "ByteLevel", "trim_offsets": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "byte_fallback": False,
            "ignore_merges": kind == "llama3",
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges]
            if kind == "qwen2"
            else [[a, b] for a, b in merges],
        },
    }
    return data, vocab, merges, added


SPM_HEAD = [("<unk>", 2), ("<s>", 3), ("</s>", 3)]


def train_spm(
    n_merges: int = 160, head: list[tuple[str, int]] = SPM_HEAD, user_defined: tuple[str, ...] = ()
) -> tuple[list[str], list[float], list[int], list]:
    """SentencePiece-BPE-style pieces: specials (``head``, then user-defined ones), 256 bytes,
    merged pieces, characters."""
    words: Counter[tuple[str, ...]] = Counter()
    for word in CORPUS.replace("\n", " ").split(" "):
        if word:
            words[tuple("\u2581" + word)] += 1
    merges = _train(words, n_merges)
    pieces = [p for p, _t in head] + list(user_defined) + [f"<0x{b:02X}>" for b in range(256)]
    types = [t for _p, t in head] + [4] * len(user_defined) + [6] * 256
    scores = [0.0] * len(pieces)
    for i, (a, b) in enumerate(merges):
        if a + b not in pieces:
            pieces.append(a + b)
            scores.append(-float(i))
            types.append(1)
    chars = sorted({c for w in words for c in w} - {"\n"})
    for j, ch in enumerate(chars):
        pieces.append(ch)
        scores.append(-float(n_merges + j))
        types.append(1)
    return pieces, scores, types, merges


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 0:
        assert isinstance(payload, int)
        return key + _varint(payload)
    assert isinstance(payload, bytes)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def spm_model_bytes(
    pieces: list[str],
    scores: list[float],
    types: list[int],
    *,
    model_type: int = 2,
    add_dummy_prefix: bool = True,
    pad_id: int = -1,
    ids: tuple[int, int, int] = (0, 1, 2),  # unk, bos, eos
) -> bytes:
    """A serialized sentencepiece ModelProto."""
    out = bytearray()
    for piece, score, ptype in zip(pieces, scores, types, strict=True):
        body = _field(1, 2, piece.encode()) + _field(2, 5, struct.pack("<f", score))
        if ptype != 1:
            body += _field(3, 0, ptype)
        out += _field(1, 2, body)
    trainer = _field(3, 0, model_type) + _field(4, 0, len(pieces)) + _field(35, 0, 1)
    trainer += _field(40, 0, ids[0]) + _field(41, 0, ids[1]) + _field(42, 0, ids[2])
    trainer += _field(43, 0, pad_id)
    trainer += _field(2, 2, b"unused-prefix")  # a field the reader must skip
    out += _field(2, 2, trainer)
    norm = _field(1, 2, b"identity") + _field(3, 0, int(add_dummy_prefix)) + _field(4, 0, 0)
    out += _field(3, 2, norm)
    return bytes(out)


def tokenizer_json_spm_style(pieces: list[str], merges: list) -> dict[str, Any]:
    """A Llama-2-style tokenizer.json (BPE with byte fallback over ``▁`` pieces)."""
    return {
        "version": "1.0",
        "added_tokens": [
            {"id": i, "content": s, "special": True, "normalized": False}
            for i, s in enumerate(("<unk>", "<s>", "</s>"))
        ],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
            ],
        },
        "pre_tokenizer": None,
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ],
        },
        "model": {
            "type": "BPE",
            "unk_token": "<unk>",
            "byte_fallback": True,
            "fuse_unk": True,
            "vocab": {p: i for i, p in enumerate(pieces)},
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


# --- model folders -------------------------------------------------------------------------

BASE_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 96,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 256,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def write_tokenizer(folder: Path, kind: str) -> dict[str, Any]:
    """Tokenizer files of one kind; returns what the tests need to tokenize by reference."""
    info: dict[str, Any] = {"kind": kind}
    if kind in ("qwen2", "llama3"):
        data, vocab, merges, added = tokenizer_json_byte_level(kind)
        (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
        tok_config: dict[str, Any] = {
            "bos_token": None if kind == "qwen2" else "<|endoftext|>",
            "eos_token": "<|im_end|>",
            "add_bos_token": kind == "llama3",
            "chat_template": CHAT_TEMPLATE,
        }
        info.update(vocab=vocab, merges=merges, added=added, size=len(vocab) + len(added))
    elif kind == "gemma-spm":  # Gemma's tokenizer.model: no dummy prefix, its own special ids
        pieces, scores, types, merges = train_spm(
            head=families.GEMMA_HEAD, user_defined=tuple(families.GEMMA_TURNS)
        )
        ids = families.GEMMA_IDS
        (folder / "tokenizer.model").write_bytes(
            spm_model_bytes(
                pieces, scores, types, add_dummy_prefix=False, pad_id=ids["pad"],
                ids=(ids["unk"], ids["bos"], ids["eos"]),
            )
        )  # fmt: skip
        tok_config = {
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "pad_token": "<pad>",
            "add_bos_token": True,
            "add_eos_token": False,
            "chat_template": families.GEMMA_TEMPLATE,
            "added_tokens_decoder": {
                str(pieces.index(t)): {"content": t, "special": True, "normalized": False}
                for t in families.GEMMA_TURNS
            },
        }
        info.update(pieces=pieces, scores=scores, types=types, merges=merges, size=len(pieces))
    else:
        pieces, scores, types, merges = train_spm()
        if kind in ("spm", "phi3-spm"):
            (folder / "tokenizer.model").write_bytes(spm_model_bytes(pieces, scores, types))
        else:  # "spm-json": the same vocabulary as a Llama-2-style tokenizer.json
            data = tokenizer_json_spm_style(pieces, merges)
            (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
        tok_config = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "add_bos_token": True,
            "add_eos_token": False,
            "chat_template": CHAT_TEMPLATE,
        }
        size = len(pieces)
        if kind == "phi3-spm":  # Phi-3's chat tokens, added after the SentencePiece vocabulary
            added = {t: size + i for i, (t, _r) in enumerate(families.PHI3_ADDED)}
            tok_config["chat_template"] = families.PHI3_TEMPLATE
            tok_config["added_tokens_decoder"] = {
                str(added[t]): {"content": t, "special": True, "rstrip": rstrip}
                for t, rstrip in families.PHI3_ADDED
            }
            info["added"] = added
            size += len(added)
        info.update(pieces=pieces, scores=scores, types=types, merges=merges, size=size)
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config), encoding="utf-8")
    return info


def random_weights(cfg: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    """HF-layout float32 weights for ``cfg`` (all of them, lm_head included)."""
    rng = np.random.default_rng(seed)
    h, ff, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // n_head
    arch = cfg["architectures"][0]
    bias = arch == "Qwen2ForCausalLM" or cfg.get("attention_bias", False)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def vec(n: int, base: float = 1.0, scale: float = 0.2) -> np.ndarray:
        return (base + scale * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((v, h)).astype(np.float32)}
    layers = families.family_weights(cfg, mat, vec)
    if layers is not None:
        w.update(layers)
        w["model.norm.weight"] = vec(h, 0.0 if arch.startswith("Gemma") else 1.0)
        w["lm_head.weight"] = mat(v, h)
        return w
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = vec(h)
        w[p + "self_attn.q_proj.weight"] = mat(n_head * hd, h)
        w[p + "self_attn.k_proj.weight"] = mat(n_kv * hd, h)
        w[p + "self_attn.v_proj.weight"] = mat(n_kv * hd, h)
        w[p + "self_attn.o_proj.weight"] = mat(h, n_head * hd)
        if bias:
            w[p + "self_attn.q_proj.bias"] = vec(n_head * hd, 0.0, 0.3)
            w[p + "self_attn.k_proj.bias"] = vec(n_kv * hd, 0.0, 0.3)
            w[p + "self_attn.v_proj.bias"] = vec(n_kv * hd, 0.0, 0.3)
        if cfg.get("attention_bias"):
            w[p + "self_attn.o_proj.bias"] = vec(h, 0.0, 0.3)
        if arch == "Qwen3ForCausalLM":
            w[p + "self_attn.q_norm.weight"] = vec(hd)
            w[p + "self_attn.k_norm.weight"] = vec(hd)
        w[p + "post_attention_layernorm.weight"] = vec(h)
        w[p + "mlp.gate_proj.weight"] = mat(ff, h)
        w[p + "mlp.up_proj.weight"] = mat(ff, h)
        w[p + "mlp.down_proj.weight"] = mat(h, ff)
    w["model.norm.weight"] = vec(h)
    w["lm_head.weight"] = mat(v, h)
    return w


def make_model(
    folder: Path,
    arch: str = "LlamaForCausalLM",
    tokenizer: str = "spm",
    *,
    dtype: str = "F32",
    stored: str = "both",  # with tied embeddings: "both", "embed" or "lm_head"
    shards: int = 1,
    seed: int = 0,
    **config: Any,
) -> tuple[Path, dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """A complete HF folder; returns (folder, weights as the model sees them, config, tok)."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = write_tokenizer(folder, tokenizer)
    cfg = {**BASE_CONFIG, **families.FAMILY_CONFIGS.get(arch, {}), "architectures": [arch]}
    cfg.update(config)
    cfg.setdefault("vocab_size", -(-tok["size"] // 64) * 64)  # padded, as real models are
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}
    gen.update(temperature=0.7, top_p=0.9, top_k=40)
    (folder / "generation_config.json").write_text(json.dumps(gen), encoding="utf-8")
    weights = random_weights(cfg, seed)
    if cfg["tie_word_embeddings"]:
        if stored == "lm_head":
            weights["lm_head.weight"] = weights.pop("model.embed_tokens.weight")
        elif stored == "embed":
            del weights["lm_head.weight"]
        else:
            weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    weights = {k: quantize_like(v, dtype) for k, v in weights.items()}
    write_shards(folder, weights, dtype, shards)
    return folder, weights, cfg, tok


def write_shards(folder: Path, weights: dict[str, np.ndarray], dtype: str, shards: int) -> None:
    if shards == 1:
        write_safetensors(folder / "model.safetensors", weights, dtype)
        return
    names = list(weights)
    weight_map: dict[str, str] = {}
    for s in range(shards):
        shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[s::shards]}
        write_safetensors(folder / shard, part, dtype)
        weight_map.update(dict.fromkeys(part, shard))
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index), encoding="utf-8")
