"""Phi-3 (``Phi3ForCausalLM``) on llama.cpp's ``phi3`` architecture.

* Fused tensors stay fused: llama.cpp's phi3 reads ``attn_qkv`` (q rows, then k, then v, the
  order HF splits ``qkv_proj`` in) and ``ffn_up`` with ``2 * n_ff`` rows, gate first: its
  SwiGLU takes ``silu(first half) * second half``, as HF's ``gate_up_proj.chunk(2)`` does.
* NEOX rope (HF ``rotate_half``): no row permutation. Partial rotary (``partial_rotary_factor``)
  is ``rope.dimension_count`` = the rotated part of each head; llama.cpp rotates the first
  ``n_rot`` values of a head, pairing ``i`` with ``i + n_rot/2``, as HF does on its slice.
* Heads must fill the hidden size: llama.cpp's phi3 builds q and the output with ``n_embd``.
* LongRoPE / "su" scaling (the 128k models) is refused by hf_model's rope check: it needs the
  long/short factor tensors and llama.cpp's context-dependent switch, not reproduced here.
* ``sliding_window`` is not applied by llama.cpp's phi3 (it disables it on load): a window below
  the context gives the ``sliding_window_ignored`` warning, as for Mistral.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gguf

from desktop_app.core.convert.config_fields import int_field
from desktop_app.core.convert.errors import ConvertError

if TYPE_CHECKING:
    from desktop_app.core.convert.hf_model import HFConfig


@dataclass(frozen=True)
class Phi3Params:
    rope_dims: int  # rotated values per head
    original_context: int  # the context the model was trained at (before rope scaling)


def parse_phi3(
    raw: dict[str, Any],
    path: Path,
    *,
    hidden: int,
    n_head: int,
    head_dim: int,
    context: int,
    rope_params: dict[str, Any],
) -> Phi3Params:
    if head_dim * n_head != hidden:
        raise ConvertError(
            "unsupported_feature", "head_dim * heads != hidden", path=path, field="head_dim"
        )
    factor = raw.get("partial_rotary_factor", rope_params.get("partial_rotary_factor", 1.0))
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1:
        raise ConvertError(
            "bad_config", f"factor {factor!r}", path=path, field="partial_rotary_factor"
        )
    rope_dims = int(head_dim * factor)
    if rope_dims < 2 or rope_dims % 2:
        raise ConvertError(
            "bad_config", f"rotary dims {rope_dims}", path=path, field="partial_rotary_factor"
        )
    key = "original_max_position_embeddings"
    original = raw.get(key, rope_params.get(key))
    original = int_field({key: original}, key, path, default=context)
    return Phi3Params(rope_dims=rope_dims, original_context=original)


def phi3_layer_rows(cfg: HFConfig) -> dict[str, tuple[tuple[int, ...], str]]:
    """GGUF tensor suffix -> (numpy shape, HF suffix) for one Phi-3 layer."""
    h, hd, ff = cfg.hidden_size, cfg.head_dim, cfg.n_ff
    qkv_rows = (cfg.n_head + 2 * cfg.n_head_kv) * hd
    return {
        "attn_norm.weight": ((h,), "input_layernorm.weight"),
        "attn_qkv.weight": ((qkv_rows, h), "self_attn.qkv_proj.weight"),
        "attn_output.weight": ((h, cfg.n_head * hd), "self_attn.o_proj.weight"),
        "ffn_norm.weight": ((h,), "post_attention_layernorm.weight"),
        "ffn_up.weight": ((2 * ff, h), "mlp.gate_up_proj.weight"),
        "ffn_down.weight": ((h, ff), "mlp.down_proj.weight"),
    }


def add_phi3_metadata(writer: gguf.GGUFWriter, params: Phi3Params) -> None:
    writer.add_rope_scaling_orig_ctx_len(params.original_context)
