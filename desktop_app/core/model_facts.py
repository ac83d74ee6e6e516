"""What a GGUF file is: the facts QuantDesk shows and estimates from, read from its header."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.gguf_file import (
    ArraySummary,
    GGUFHeader,
    ggml_type_name,
    read_gguf_header,
)
from desktop_app.core.quant_types import FileType, file_type_by_id, infer_file_type
from desktop_app.core.sliding_window import SlidingWindow, sliding_window


@dataclass(frozen=True)
class TensorTypeStats:
    count: int
    n_bytes: int
    n_elements: int


@dataclass(frozen=True)
class ModelFacts:
    path: str
    file_size: int
    architecture: str
    name: str | None
    basename: str | None
    size_label: str | None
    parameter_count: int
    file_type: FileType | None
    file_type_guessed: bool  # no (or a "guessed") general.file_type key: inferred from tensors
    bits_per_weight: float  # real, from tensor bytes / elements
    weights_bytes: int
    context_length: int | None
    n_layer: int | None
    n_embd: int | None
    n_ff: int | None
    n_head: int | None
    n_head_kv: int | None
    # Per-layer KV head counts when the file gives an array (some models vary them per layer).
    n_head_kv_per_layer: tuple[int, ...] | None
    key_length: int | None
    value_length: int | None
    sliding_window: int | None
    vocab_size: int | None
    tokenizer_model: str | None
    has_chat_template: bool
    split_count: int
    tensor_types: Mapping[str, TensorTypeStats] = field(default_factory=dict)
    # (name, ggml type name, n_bytes, n_dims) of every tensor: the fit estimate needs per-tensor
    # types because llama.cpp repacks some of them into extra buffers.
    tensors: tuple[tuple[str, str, int, int], ...] = ()
    # The layers llama.cpp runs with a sliding window (core/sliding_window.py); None: none do.
    swa: SlidingWindow | None = None

    @property
    def quant_label(self) -> str:
        return self.file_type.label if self.file_type else "unknown"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "file_size": self.file_size,
            "architecture": self.architecture,
            "name": self.name,
            "basename": self.basename,
            "size_label": self.size_label,
            "parameter_count": self.parameter_count,
            "quant": self.quant_label,
            "file_type_guessed": self.file_type_guessed,
            "bits_per_weight": round(self.bits_per_weight, 4),
            "weights_bytes": self.weights_bytes,
            "context_length": self.context_length,
            "layers": self.n_layer,
            "embedding_length": self.n_embd,
            "feed_forward_length": self.n_ff,
            "heads": self.n_head,
            "kv_heads": self.n_head_kv,
            "key_length": self.key_length,
            "value_length": self.value_length,
            "sliding_window": self.sliding_window,
            "sliding_window_layers": self.swa.n_windowed if self.swa else 0,
            "vocab_size": self.vocab_size,
            "tokenizer_model": self.tokenizer_model,
            "has_chat_template": self.has_chat_template,
            "split_count": self.split_count,
            "tensor_types": {
                k: {"count": v.count, "bytes": v.n_bytes} for k, v in self.tensor_types.items()
            },
        }


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return int(max(value))
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def facts_from_header(header: GGUFHeader, path: str = "") -> ModelFacts:
    md = header.metadata
    arch = _str(md.get("general.architecture")) or "unknown"

    def arch_key(suffix: str) -> Any:
        return md.get(f"{arch}.{suffix}")

    stats: dict[str, list[int]] = {}
    weights = elements = 0
    tensor_rows: list[tuple[str, str, int, int]] = []
    for t in header.tensors:
        tname = ggml_type_name(t.ggml_type)
        entry = stats.setdefault(tname, [0, 0, 0])
        entry[0] += 1
        entry[1] += t.n_bytes
        entry[2] += t.n_elements
        weights += t.n_bytes
        elements += t.n_elements
        tensor_rows.append((t.name, tname, t.n_bytes, len(t.shape)))
    tensor_types = {
        k: TensorTypeStats(count=v[0], n_bytes=v[1], n_elements=v[2])
        for k, v in sorted(stats.items(), key=lambda kv: -kv[1][1])
    }

    raw_ftype = _int(md.get("general.file_type"))
    file_type = file_type_by_id(raw_ftype) if raw_ftype is not None else None
    guessed = file_type is None or (raw_ftype is not None and raw_ftype & 1024 != 0)
    if file_type is None:
        file_type = infer_file_type({k: v.n_bytes for k, v in tensor_types.items()})

    n_head = _int(arch_key("attention.head_count"))
    n_embd = _int(arch_key("embedding_length"))
    kv_raw = arch_key("attention.head_count_kv")
    kv_per_layer = (
        tuple(int(v) for v in kv_raw)
        if isinstance(kv_raw, tuple) and all(isinstance(v, int) for v in kv_raw)
        else None
    )
    n_head_kv = _int(kv_raw) if kv_raw is not None else n_head
    head_dim = n_embd // n_head if n_embd and n_head else None
    key_length = _int(arch_key("attention.key_length")) or head_dim
    value_length = _int(arch_key("attention.value_length")) or head_dim

    vocab = _int(arch_key("vocab_size"))
    if vocab is None:
        tokens = md.get("tokenizer.ggml.tokens")
        if isinstance(tokens, ArraySummary):
            vocab = tokens.length
        elif isinstance(tokens, tuple):
            vocab = len(tokens)

    template = md.get("tokenizer.chat_template")
    return ModelFacts(
        path=path,
        file_size=header.file_size,
        architecture=arch,
        name=_str(md.get("general.name")),
        basename=_str(md.get("general.basename")),
        size_label=_str(md.get("general.size_label")),
        parameter_count=elements,
        file_type=file_type,
        file_type_guessed=guessed,
        bits_per_weight=(8.0 * weights / elements) if elements else 0.0,
        weights_bytes=weights,
        context_length=_int(arch_key("context_length")),
        n_layer=_int(arch_key("block_count")),
        n_embd=n_embd,
        n_ff=_int(arch_key("feed_forward_length")),
        n_head=n_head,
        n_head_kv=n_head_kv,
        n_head_kv_per_layer=kv_per_layer,
        key_length=key_length,
        value_length=value_length,
        sliding_window=_int(arch_key("attention.sliding_window")),
        vocab_size=vocab,
        tokenizer_model=_str(md.get("tokenizer.ggml.model")),
        has_chat_template=isinstance(template, str) and bool(template.strip()),
        split_count=_int(md.get("split.count")) or 1,
        tensor_types=tensor_types,
        tensors=tuple(tensor_rows),
        swa=sliding_window(arch, md, _int(arch_key("block_count"))),
    )


def read_model_facts(path: str | os.PathLike[str]) -> ModelFacts:
    """Validate ``path`` as GGUF and return its facts (raises GGUFError / FileAccessError)."""
    header = read_gguf_header(path)
    return facts_from_header(header, str(Path(path)))
