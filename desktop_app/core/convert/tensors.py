"""Which GGUF tensors a model needs, where each comes from, and how it is written.

Every HF tensor is renamed with gguf's tensor-name map and checked against the shape the config
implies before anything is written. Tensors are then converted in chunks of whole rows, so
memory stays near one chunk whatever the model size:

* Llama/Mistral q/k weights (and biases) have their rows reordered: HF applies rope with
  ``rotate_half`` (pairs ``i`` and ``i + d/2``), llama.cpp's LLAMA arch with adjacent pairs.
  The row permutation is the official converter's ``reshape(n_head, 2, d/2).swapaxes(1, 2)``.
  Qwen2/Qwen3 use NEOX rope in llama.cpp, identical to rotate_half: no permutation.
* 1-D tensors and norms are always F32; matrices take the output type (Q8_0 falls back to F16
  for rows not a multiple of 32, as llama.cpp's own converter does).
* Tied embeddings: only ``token_embd`` is written; a checkpoint that stores only ``lm_head``
  (e.g. TinyStories) gives it as ``token_embd``.
* Llama-3 rope scaling becomes the ``rope_freqs`` tensor (llama.cpp divides each frequency).
* Gemma and Phi-3 layers: arch_gemma.py / arch_phi3.py (Gemma norms get ``+ 1``; a query scale
  may be folded in: ``TensorJob.shift`` and ``scale``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

from desktop_app.core.convert.arch_gemma import gemma_layer_rows, gemma_transform
from desktop_app.core.convert.arch_phi3 import phi3_layer_rows
from desktop_app.core.convert.errors import ConvertError
from desktop_app.core.convert.hf_model import HFConfig
from desktop_app.core.convert.safetensors_reader import (
    TensorEntry,
    WeightSet,
    iter_row_chunks,
    to_float32,
)

Q = gguf.GGMLQuantizationType
OUTTYPES: dict[str, tuple[gguf.GGMLQuantizationType, int]] = {
    "f32": (Q.F32, int(gguf.LlamaFileType.ALL_F32)),
    "f16": (Q.F16, int(gguf.LlamaFileType.MOSTLY_F16)),
    "bf16": (Q.BF16, int(gguf.LlamaFileType.MOSTLY_BF16)),
    "q8_0": (Q.Q8_0, int(gguf.LlamaFileType.MOSTLY_Q8_0)),
}
CHUNK_BYTES = 16 * 1024 * 1024  # float32 bytes converted at a time
_RAW_COPY = {("F32", Q.F32), ("F16", Q.F16), ("BF16", Q.BF16)}


@dataclass(frozen=True)
class TensorJob:
    """One output tensor: its GGUF name, numpy shape, type, size and origin."""

    name: str
    shape: tuple[int, ...]
    qtype: gguf.GGMLQuantizationType
    nbytes: int
    source: TensorEntry | None = None
    permute_heads: int = 0  # > 0: reorder rows for llama.cpp's rope (that many heads)
    values: tuple[float, ...] = ()  # generated 1-D tensors (rope_freqs)
    shift: float = 0.0  # values written are (x + shift) * scale
    scale: float = 1.0


def expected_tensors(cfg: HFConfig) -> dict[str, tuple[tuple[int, ...], str]]:
    """GGUF name -> (numpy shape, HF name) of every tensor the architecture needs."""
    h, v = cfg.hidden_size, cfg.vocab_size
    out: dict[str, tuple[tuple[int, ...], str]] = {
        "token_embd.weight": ((v, h), "model.embed_tokens.weight"),
        "output_norm.weight": ((h,), "model.norm.weight"),
    }
    if not cfg.tied_embeddings:
        out["output.weight"] = ((v, h), "lm_head.weight")
    family = cfg.spec.family
    for i in range(cfg.n_layer):
        b, hf = f"blk.{i}.", f"model.layers.{i}."
        if family == "gemma":
            rows = gemma_layer_rows(cfg)
        elif family == "phi3":
            rows = phi3_layer_rows(cfg)
        else:
            rows = _llama_layer_rows(cfg)
        out.update({b + k: (shape, hf + name) for k, (shape, name) in rows.items()})
    return out


def _llama_layer_rows(cfg: HFConfig) -> dict[str, tuple[tuple[int, ...], str]]:
    """Llama, Mistral, Qwen2 and Qwen3: GGUF suffix -> (numpy shape, HF suffix) of a layer."""
    h, hd, ff = cfg.hidden_size, cfg.head_dim, cfg.n_ff
    q_rows, kv_rows = cfg.n_head * hd, cfg.n_head_kv * hd
    rows = {
        "attn_norm.weight": ((h,), "input_layernorm.weight"),
        "attn_q.weight": ((q_rows, h), "self_attn.q_proj.weight"),
        "attn_k.weight": ((kv_rows, h), "self_attn.k_proj.weight"),
        "attn_v.weight": ((kv_rows, h), "self_attn.v_proj.weight"),
        "attn_output.weight": ((h, q_rows), "self_attn.o_proj.weight"),
        "ffn_norm.weight": ((h,), "post_attention_layernorm.weight"),
        "ffn_gate.weight": ((ff, h), "mlp.gate_proj.weight"),
        "ffn_up.weight": ((ff, h), "mlp.up_proj.weight"),
        "ffn_down.weight": ((h, ff), "mlp.down_proj.weight"),
    }
    if cfg.spec.qkv_bias or cfg.attention_bias:
        rows["attn_q.bias"] = ((q_rows,), "self_attn.q_proj.bias")
        rows["attn_k.bias"] = ((kv_rows,), "self_attn.k_proj.bias")
        rows["attn_v.bias"] = ((kv_rows,), "self_attn.v_proj.bias")
    if cfg.attention_bias:
        rows["attn_output.bias"] = ((h,), "self_attn.o_proj.bias")
    if cfg.spec.qk_norm:
        rows["attn_q_norm.weight"] = ((hd,), "self_attn.q_norm.weight")
        rows["attn_k_norm.weight"] = ((hd,), "self_attn.k_norm.weight")
    return rows


def map_tensors(cfg: HFConfig, weights: WeightSet) -> dict[str, TensorEntry]:
    """GGUF name -> source tensor, every name and shape checked against the config."""
    expected = expected_tensors(cfg)
    tmap = gguf.get_tensor_name_map(cfg.spec.gguf_arch, cfg.n_layer)
    found: dict[str, TensorEntry] = {}
    spare_output: TensorEntry | None = None
    for hf_name, entry in weights.tensors.items():
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue  # recomputed by llama.cpp from rope_theta
        name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if cfg.tied_embeddings and (name == "output.weight" or hf_name == "lm_head.weight"):
            spare_output = entry
            continue
        if name is None or name not in expected:
            raise ConvertError("unexpected_tensor", path=entry.path, tensor=hf_name)
        if name in found:
            raise ConvertError(
                "unexpected_tensor", f"also {found[name].name}", path=entry.path, tensor=hf_name
            )
        found[name] = entry
    if "token_embd.weight" not in found and spare_output is not None:
        found["token_embd.weight"] = spare_output  # tied, only lm_head stored
    for name, (shape, hf_name) in expected.items():
        source = found.get(name)
        if source is None:
            raise ConvertError("missing_tensor", tensor=hf_name)
        if source.shape != shape:
            raise ConvertError(
                "shape_mismatch",
                path=source.path,
                tensor=source.name,
                expected=shape,
                actual=source.shape,
            )
    return found


def _nbytes(shape: tuple[int, ...], qtype: gguf.GGMLQuantizationType) -> int:
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return math.prod(shape) // block * size


def plan_jobs(cfg: HFConfig, weights: WeightSet, outtype: str) -> tuple[list[TensorJob], bool]:
    """Output tensors in file order; the flag says some Q8_0 matrix fell back to F16."""
    sources = map_tensors(cfg, weights)
    matrix_type = OUTTYPES[outtype][0]
    jobs: list[TensorJob] = []
    fell_back = False
    freqs = llama3_rope_factors(cfg)
    if freqs:
        jobs.append(
            TensorJob("rope_freqs.weight", (len(freqs),), Q.F32, 4 * len(freqs), values=freqs)
        )
    for name in expected_tensors(cfg):
        entry = sources[name]
        shape = entry.shape
        qtype = matrix_type
        if len(shape) <= 1 or name.endswith("_norm.weight"):
            qtype = Q.F32
        elif qtype == Q.Q8_0 and shape[-1] % 32:
            qtype, fell_back = Q.F16, True
        permute = 0
        if cfg.spec.permute_qk and name.split(".", 2)[-1] in ("attn_q.weight", "attn_q.bias"):
            permute = cfg.n_head
        elif cfg.spec.permute_qk and name.split(".", 2)[-1] in ("attn_k.weight", "attn_k.bias"):
            permute = cfg.n_head_kv
        shift, scale = gemma_transform(cfg, name) if cfg.gemma is not None else (0.0, 1.0)
        jobs.append(
            TensorJob(name, shape, qtype, _nbytes(shape, qtype), entry, permute, (), shift, scale)
        )
    return jobs, fell_back


def llama3_rope_factors(cfg: HFConfig) -> tuple[float, ...]:
    """Per-frequency divisors of Llama-3 rope scaling (empty for other models)."""
    rs = cfg.rope_scaling
    if rs is None or rs.kind != "llama3":
        return ()
    dim = cfg.head_dim
    low_wavelen = rs.original_context / rs.low_freq_factor
    high_wavelen = rs.original_context / rs.high_freq_factor
    factors: list[float] = []
    for i in range(0, dim, 2):
        freq = 1.0 / (cfg.rope_theta ** (i / dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(rs.factor)
        else:
            smooth = (rs.original_context / wavelen - rs.low_freq_factor) / (
                rs.high_freq_factor - rs.low_freq_factor
            )
            factors.append(1.0 / ((1 - smooth) / rs.factor + smooth))
    return tuple(factors)


def rope_row_order(n_rows: int, n_head: int) -> npt.NDArray[np.intp]:
    """Source row of each output row for llama.cpp's rope layout."""
    head_dim = n_rows // n_head
    order = np.arange(n_rows, dtype=np.intp).reshape(n_head, 2, head_dim // 2)
    return np.ascontiguousarray(order.swapaxes(1, 2)).reshape(-1)


def encode(values: npt.NDArray[np.float32], qtype: gguf.GGMLQuantizationType) -> npt.NDArray[Any]:
    """A float32 chunk in the output type (raw bytes for BF16/Q8_0)."""
    if qtype == Q.F32:
        return values
    if qtype == Q.F16:
        with np.errstate(over="ignore", invalid="ignore"):
            return values.astype(np.float16)
    return gguf.quants.quantize(values, qtype)


def iter_job_chunks(job: TensorJob) -> Iterator[npt.NDArray[Any]]:
    """The tensor's output bytes, a chunk of whole rows at a time."""
    if job.source is None:
        yield np.asarray(job.values, dtype=np.float32)
        return
    src = job.source
    order = None
    if job.permute_heads:
        order = rope_row_order(src.shape[0], job.permute_heads)
        if len(src.shape) == 1:  # a bias: permute its elements as rows of one column
            src = TensorEntry(
                src.name, src.dtype, (src.shape[0], 1), src.path, src.offset, src.nbytes
            )
    transformed = job.shift != 0.0 or job.scale != 1.0
    raw_copy = (src.dtype, job.qtype) in _RAW_COPY and not transformed
    cols = src.shape[-1] if src.shape else 1
    for raw in iter_row_chunks(src, max(1, CHUNK_BYTES // (4 * cols)), order):
        if raw_copy:
            yield np.ascontiguousarray(raw)
            continue
        values = to_float32(raw, src.dtype)
        if transformed:  # float32 arithmetic, as HF's RMSNorm does (1 + w) in float32
            values = ((values + np.float32(job.shift)) * np.float32(job.scale)).astype(np.float32)
        yield encode(values, job.qtype)


def write_job(
    job: TensorJob,
    write: Callable[[memoryview], None],
    between_chunks: Callable[[int], None],
) -> int:
    """Write one tensor's bytes; ``between_chunks(n)`` runs after each chunk of n bytes."""
    written = 0
    for chunk in iter_job_chunks(job):
        data = np.ascontiguousarray(chunk).reshape(-1).view(np.uint8).data
        write(data)
        written += data.nbytes
        between_chunks(data.nbytes)
    if written != job.nbytes:
        raise ConvertError("io_error", f"{job.name}: wrote {written} of {job.nbytes} bytes")
    return written
