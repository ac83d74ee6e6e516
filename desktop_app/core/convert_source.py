"""What a Convert source is and what each target type would cost, from headers alone.

``inspect_source(path)`` accepts a Hugging Face model folder or a GGUF file and returns a
``ConvertSource``: architecture, parameters, stored type, size on disk, whether it is already
quantized, the estimated output size of every type the quantizer can write, and ``ModelFacts``
for fit estimates. For a folder those facts are derived from config.json (no GGUF exists yet).
It runs the converter's own validation (``plan_conversion``: config, every safetensors header,
tokenizer), so a pickle-only folder or an unsupported architecture raises the same
``ConvertError`` a conversion would; a bad GGUF raises ``GGUFError`` / ``FileAccessError``.

Reads headers only, but that can still take a moment (large tokenizers): call it off the GUI
thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from desktop_app.core.fit import FitEstimate, LoadPlan, estimate_as_quant
from desktop_app.core.gguf_file import read_gguf_header
from desktop_app.core.model_facts import ModelFacts, facts_from_header
from desktop_app.core.quant_types import FILE_TYPES, FileType, file_type_by_label
from desktop_app.core.quantize_plan import (
    NOT_WRITABLE,
    estimate_output_bytes,
    quantized_source_type,
)

HF_FOLDER = "hf_folder"
GGUF_FILE = "gguf"


def writable_types() -> tuple[FileType, ...]:
    """Every file type a conversion or quantization here can produce, best quality first."""
    return tuple(ft for ft in FILE_TYPES if ft.label not in NOT_WRITABLE)


@dataclass(frozen=True)
class ConvertSource:
    path: Path
    kind: str  # HF_FOLDER or GGUF_FILE
    name: str  # what the outputs are named after (``<name>-<TYPE>.gguf``)
    architecture: str  # as llama.cpp names it ("llama", "qwen2")
    hf_architecture: str  # config.json's class name for a folder, "" for GGUF
    parameter_count: int
    dtype: str  # the stored type: "F32", "F16", "BF16", or a GGUF file type ("Q4_K_M")
    size: int  # bytes on disk (weight files for a folder)
    quantized: bool  # GGUF whose matrices are already quantized: re-quantizing loses more
    facts: ModelFacts
    estimates: Mapping[str, int]  # file type label -> estimated output bytes
    warnings: tuple[str, ...] = ()  # converter warning codes (messages_convert phrases them)

    @property
    def is_folder(self) -> bool:
        return self.kind == HF_FOLDER

    def fit(self, file_type: FileType, n_ctx: int, available: int) -> FitEstimate:
        """Would this model, stored as ``file_type``, fit ``available`` bytes at ``n_ctx``?"""
        return estimate_as_quant(self.facts, file_type.bits_per_weight, LoadPlan(n_ctx), available)


def inspect_source(path: str | os.PathLike[str]) -> ConvertSource:
    """Describe a folder or GGUF file; raises the converter's or the GGUF reader's typed errors."""
    source = Path(path).absolute()
    if source.is_dir():
        return _inspect_folder(source)
    return _inspect_gguf(source)


def _inspect_gguf(path: Path) -> ConvertSource:
    from desktop_app.core.ladder import ladder_stem

    header = read_gguf_header(path)
    facts = facts_from_header(header, str(path))
    estimates = {ft.label: estimate_output_bytes(header, ft) for ft in writable_types()}
    return ConvertSource(
        path=path,
        kind=GGUF_FILE,
        name=ladder_stem(path),
        architecture=facts.architecture,
        hf_architecture="",
        parameter_count=facts.parameter_count,
        dtype=facts.quant_label,
        size=header.file_size,
        quantized=quantized_source_type(header) is not None,
        facts=facts,
        estimates=MappingProxyType(estimates),
    )


def _inspect_folder(folder: Path) -> ConvertSource:
    from desktop_app.core.convert import plan_conversion

    plan = plan_conversion(folder, "f16")
    cfg = plan.model.config
    by_dtype: dict[str, int] = {}
    for entry in plan.weights.tensors.values():
        by_dtype[entry.dtype] = by_dtype.get(entry.dtype, 0) + entry.nbytes
    dtype = max(by_dtype, key=lambda k: by_dtype[k]) if by_dtype else "unknown"
    params = plan.parameter_count
    metadata = max(0, plan.estimated_size - plan.tensor_bytes)
    estimates = {
        ft.label: plan.estimated_size
        if ft.label == "F16"
        else metadata + int(params * ft.bits_per_weight / 8)
        for ft in writable_types()
    }
    f16 = file_type_by_label("F16")
    facts = ModelFacts(
        path=str(folder),
        file_size=plan.estimated_size,
        architecture=plan.architecture,
        name=plan.model.name,
        basename=None,
        size_label=None,
        parameter_count=params,
        file_type=f16,
        file_type_guessed=False,
        bits_per_weight=16.0,
        weights_bytes=plan.tensor_bytes,
        context_length=cfg.context_length,
        n_layer=cfg.n_layer,
        n_embd=cfg.hidden_size,
        n_ff=cfg.n_ff,
        n_head=cfg.n_head,
        n_head_kv=cfg.n_head_kv,
        n_head_kv_per_layer=None,
        key_length=cfg.head_dim,
        value_length=cfg.head_dim,
        sliding_window=None,
        vocab_size=cfg.vocab_size,
        tokenizer_model=plan.vocab.model,
        has_chat_template=bool(plan.model.tokenizer_config.get("chat_template")),
        split_count=1,
    )
    return ConvertSource(
        path=folder,
        kind=HF_FOLDER,
        name=plan.model.name,
        architecture=plan.architecture,
        hf_architecture=cfg.architecture,
        parameter_count=params,
        dtype=dtype,
        size=sum(f.size for f in plan.weights.files),
        quantized=False,
        facts=facts,
        estimates=MappingProxyType(estimates),
        warnings=plan.warnings,
    )


__all__ = ["GGUF_FILE", "HF_FOLDER", "ConvertSource", "inspect_source", "writable_types"]
