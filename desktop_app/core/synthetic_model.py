"""Llama-architecture GGUF files (or Gemma 3, for a sliding window) with random weights and a
small but real tokenizer.

There is no internet where QuantDesk is tested, so tests and benchmarks make their own models.
The files load in llama.cpp and generate (nonsense) text; sizes, memory use and speed behave like
real models of the same shape. Quality numbers (perplexity, KL) of random weights only keep their
order f16 < Q8_0 < Q4_K_M < Q2_K, not their values.

Weights are written one tensor at a time (GGUFWriter's streaming mode) so a 0.5B f16 model never
needs more than its largest tensor in memory.
"""

from __future__ import annotations

import itertools
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import gguf
import numpy as np
import numpy.typing as npt

# A ChatML-style template, as Qwen and many fine-tunes ship it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
UNK_ID, BOS_ID, EOS_ID, IM_START_ID, IM_END_ID = range(len(SPECIAL_TOKENS))

# A few hundred common English words give the tokenizer real multi-character pieces.
_WORDS = (
    "the of and to in is was he for it with as his on be at by had are but from or have an "
    "they which one you were her all she there would their we him been has when who will more "
    "no if out so said what up its about into than them can only other new some could time "
    "these two may then do first any my now such like our over man me even most made after "
    "also did many before must through back years where much your way well down should "
    "because each just those people how too little state good very make world still own see "
    "men work long get here between both life being under never day same another know while "
    "last might us great old year off come since against go came right used take three once "
    "upon story model token weight bit quant memory fast small large hello world chat local "
    "offline private laptop machine learning language think answer question"
).split()


@dataclass(frozen=True)
class ModelShape:
    """Hyperparameters of a Llama-architecture model; ``architecture="gemma3"`` writes Gemma 3's
    layout instead (its extra norms), whose ``sliding_window`` makes five layers in six attend
    to that many recent tokens only, as llama.cpp runs Gemma 3."""

    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int = 4096
    tied_embeddings: bool = False
    architecture: str = "llama"  # or "gemma3"
    sliding_window: int = 0  # gemma3 only: 0 = every layer sees the whole context
    # gemma3 only: which layers slide, written as a bool per layer (as QuantDesk's converter
    # does); empty: llama.cpp's default for Gemma 3, five layers in six.
    sliding_window_pattern: tuple[bool, ...] = ()

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


# Dimensions are multiples of 256 so K-quants apply to every matrix (no per-tensor fallback).
SHAPES: dict[str, ModelShape] = {
    "tiny": ModelShape(n_embd=256, n_layer=2, n_head=4, n_head_kv=2, n_ff=512, n_vocab=1024),
    "small": ModelShape(n_embd=512, n_layer=4, n_head=8, n_head_kv=4, n_ff=1536, n_vocab=4096),
    # The 0.5B Llama shape used by ../shared/reference/performance.md.
    "realistic": ModelShape(
        n_embd=1024, n_layer=24, n_head=16, n_head_kv=4, n_ff=5120, n_vocab=32000
    ),
    # The 1.1B TinyLlama shape, performance.md's second benchmark model (2.2 GB at F16).
    "tinyllama": ModelShape(
        n_embd=2048, n_layer=22, n_head=32, n_head_kv=4, n_ff=5632, n_vocab=32000
    ),
}

FLOAT_TYPES = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16}
# llama_ftype ids for the general.file_type key.
_FTYPE_IDS = {"F32": 0, "F16": 1}


def build_vocab(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """An SPM ("llama") vocabulary: specials, 256 byte-fallback tokens, then word pieces.

    Pieces are added prefix-first so llama.cpp's merge-based SPM tokenizer can reach every one
    of them; scores favour longer pieces so words tokenize as words.
    """
    min_size = len(SPECIAL_TOKENS) + 256 + 1
    if n_vocab < min_size:
        raise ValueError(f"n_vocab must be at least {min_size}")
    tokens: list[str] = list(SPECIAL_TOKENS)
    types: list[int] = [
        gguf.TokenType.UNKNOWN,
        *([gguf.TokenType.CONTROL] * (len(SPECIAL_TOKENS) - 1)),
    ]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    seen = set(tokens)
    pieces: list[str] = []

    def add(piece: str) -> None:
        if piece not in seen:
            seen.add(piece)
            pieces.append(piece)

    add("\u2581")
    for ch in string.ascii_letters + string.digits + string.punctuation:
        add(ch)
        add("\u2581" + ch)
    for word in _WORDS:
        for end in range(2, len(word) + 1):
            add("\u2581" + word[:end])
            add(word[:end])
    for piece in _filler_pieces():
        if len(pieces) + len(tokens) >= n_vocab:
            break
        add(piece)
    pieces = pieces[: n_vocab - len(tokens)]
    # SPM merges the highest-scoring pair first: longer pieces score higher.
    scores = [0.0] * len(tokens) + [-1000.0 + len(p) + i * 1e-6 for i, p in enumerate(pieces)]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    while len(tokens) < n_vocab:  # only for sizes the filler cannot reach
        tokens.append(f"<unused{len(tokens)}>")
        scores.append(-1e4)
        types.append(gguf.TokenType.UNUSED)
    return tokens, scores, [int(t) for t in types]


def _filler_pieces() -> Iterator[str]:
    """Two- and three-letter pieces, with and without the word-start marker."""
    letters = string.ascii_lowercase
    for n in (2, 3):
        for combo in itertools.product(letters, repeat=n):
            s = "".join(combo)
            yield "\u2581" + s
            yield s


def _tensor_plan(shape: ModelShape) -> list[tuple[str, tuple[int, ...], bool]]:
    """(name, numpy shape (rows, cols), is_norm) of every tensor, in file order."""
    d, hd = shape.n_embd, shape.head_dim
    plan: list[tuple[str, tuple[int, ...], bool]] = [
        ("token_embd.weight", (shape.n_vocab, d), False)
    ]
    gemma = shape.architecture == "gemma3"
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        plan += [
            (p + "attn_norm.weight", (d,), True),
            (p + "attn_q.weight", (shape.n_head * hd, d), False),
            (p + "attn_k.weight", (shape.n_head_kv * hd, d), False),
            (p + "attn_v.weight", (shape.n_head_kv * hd, d), False),
            (p + "attn_output.weight", (d, shape.n_head * hd), False),
        ]
        if gemma:
            plan += [
                (p + "attn_q_norm.weight", (hd,), True),
                (p + "attn_k_norm.weight", (hd,), True),
                (p + "post_attention_norm.weight", (d,), True),
            ]
        plan += [
            (p + "ffn_norm.weight", (d,), True),
            (p + "ffn_gate.weight", (shape.n_ff, d), False),
            (p + "ffn_up.weight", (shape.n_ff, d), False),
            (p + "ffn_down.weight", (d, shape.n_ff), False),
        ]
        if gemma:
            plan.append((p + "post_ffw_norm.weight", (d,), True))
    plan.append(("output_norm.weight", (d,), True))
    if not shape.tied_embeddings:
        plan.append(("output.weight", (shape.n_vocab, d), False))
    return plan


def _random_tensor(
    rng: np.random.Generator, dims: tuple[int, ...], is_norm: bool, dtype: type[np.generic]
) -> npt.NDArray[np.generic]:
    if is_norm:
        return np.ones(dims, dtype=np.float32)
    # 1/sqrt(fan_in) keeps activations near unit scale, so logits are not absurdly peaked.
    scale = 1.0 / np.sqrt(dims[-1])
    arr = rng.standard_normal(dims, dtype=np.float32) * np.float32(scale)
    return arr.astype(dtype)


def write_model(
    path: str | os.PathLike[str],
    shape: ModelShape | str = "tiny",
    *,
    dtype: str = "F16",
    seed: int = 0,
    name: str = "QuantDesk Test Model",
    basename: str = "quantdesk-test",
    chat_template: str | None = CHAT_TEMPLATE,
) -> Path:
    """Write a random-weight Llama GGUF at ``path`` (written to a temp name, then renamed)."""
    if isinstance(shape, str):
        shape = SHAPES[shape]
    if dtype not in FLOAT_TYPES:
        raise ValueError(f"dtype must be one of {sorted(FLOAT_TYPES)}")
    np_dtype: type[np.generic] = np.float16 if dtype == "F16" else np.float32
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tokens, scores, types = build_vocab(shape.n_vocab)

    if shape.architecture not in ("llama", "gemma3"):
        raise ValueError("architecture must be llama or gemma3")
    writer = gguf.GGUFWriter(tmp, shape.architecture)
    writer.add_name(name)
    writer.add_basename(basename)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_dimension_count(shape.head_dim)
    if shape.architecture == "gemma3":
        writer.add_key_length(shape.head_dim)
        writer.add_value_length(shape.head_dim)
        if shape.sliding_window:
            writer.add_sliding_window(shape.sliding_window)
        if shape.sliding_window_pattern:
            writer.add_sliding_window_pattern(list(shape.sliding_window_pattern))
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(shape.n_vocab)
    writer.add_file_type(_FTYPE_IDS[dtype])
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(UNK_ID)
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(IM_END_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    plan = _tensor_plan(shape)
    for tname, dims, is_norm in plan:
        t_dtype = np.float32 if is_norm else np_dtype
        nbytes = int(np.prod(dims)) * np.dtype(t_dtype).itemsize
        writer.add_tensor_info(tname, dims, np.dtype(t_dtype), nbytes)

    rng = np.random.default_rng(seed)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for _tname, dims, is_norm in plan:
            writer.write_tensor_data(_random_tensor(rng, dims, is_norm, np_dtype))
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return out


def shape_with(base: str, **changes: int | bool | str | tuple[bool, ...]) -> ModelShape:
    """A named shape with some fields changed (tests use it for odd dimensions)."""
    return replace(SHAPES[base], **changes)  # type: ignore[arg-type]
