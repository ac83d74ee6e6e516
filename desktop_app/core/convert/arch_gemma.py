"""Gemma 2 and Gemma 3 (text) on llama.cpp's ``gemma2`` / ``gemma3`` architectures.

What differs from Llama, and how each difference reaches llama.cpp:

* RMSNorm multiplies by ``1 + weight`` (every ``*norm.weight``, q/k norms included): the 1 is
  added at conversion, as llama.cpp's own converter does, since its graph multiplies by the
  stored weight.
* The embedding is scaled by ``sqrt(hidden)`` and the MLP is GELU-tanh: both are in llama.cpp's
  graph, nothing to convert. Embeddings are tied (gemma2 has no ``output`` tensor at all).
* Sandwich norms: ``post_attention_layernorm`` is a norm *after* attention (attn_post_norm),
  ``pre_feedforward_layernorm`` the FFN's input norm (ffn_norm), ``post_feedforward_layernorm``
  after the FFN (ffn_post_norm).
* Attention scale: HF uses ``query_pre_attn_scalar ** -0.5``; llama.cpp ignores that key and
  uses ``head_dim ** -0.5`` (``hidden / heads`` for the 27B layer counts). Any ratio is folded
  into the queries (gemma2: the q projection rows; gemma3: the q norm, since the norm would
  undo a scaled projection). Real checkpoints need no fold; odd fine-tunes stay exact.
* Softcapping: gemma2 always caps attention and final logits in llama.cpp, so both values are
  required; gemma3 has no attention cap (a config with one is refused) and an optional final cap.
* Sliding window on some layers: written as the window and a per-layer pattern array (llama.cpp
  reads a bool array as well as a period). HF's layers: ``layer_types`` when given, else gemma2
  every even layer and gemma3 all but every ``sliding_window_pattern``-th.
* Gemma 3 rope: ``rope_theta`` on global layers, ``rope_local_base_freq`` on sliding ones
  (``rope.freq_base_swa``); linear scaling applies to global layers only, as in llama.cpp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gguf

from desktop_app.core.convert.config_fields import float_field, int_field, optional_float
from desktop_app.core.convert.errors import ConvertError

if TYPE_CHECKING:
    from desktop_app.core.convert.hf_model import HFConfig

GEMMA_ACTIVATIONS = ("gelu_pytorch_tanh",)  # llama.cpp's GELU is the tanh approximation
# Layer counts llama.cpp takes for the 27B models, where its attention scale is hidden/heads.
_LARGE_LAYERS = {"Gemma2ForCausalLM": 46, "Gemma3ForCausalLM": 62}
_LAYER_KINDS = {"sliding_attention": True, "full_attention": False}


@dataclass(frozen=True)
class GemmaParams:
    sliding_window: int  # 0: no sliding layers
    swa_layers: tuple[bool, ...]  # per layer: True = sliding window
    rope_theta_swa: float | None  # gemma3: rope base of sliding layers
    attn_softcap: float | None
    final_softcap: float | None
    query_scale: float  # folded into the queries; 1.0 for every released checkpoint


def parse_gemma(
    raw: dict[str, Any],
    path: Path,
    arch: str,
    *,
    n_layer: int,
    hidden: int,
    n_head: int,
    head_dim: int,
    rope_sliding: dict[str, Any],
) -> GemmaParams:
    """Gemma's extra hyperparameters, validated against what llama.cpp can reproduce."""
    gemma2 = arch == "Gemma2ForCausalLM"
    act = raw.get("hidden_activation") or raw.get("hidden_act")
    if act not in GEMMA_ACTIVATIONS:
        field = "hidden_activation" if raw.get("hidden_activation") else "hidden_act"
        raise ConvertError("unsupported_feature", f"{field}={act!r}", path=path, field=field)
    attn_cap = optional_float(raw, "attn_logit_softcapping", path)
    final_cap = optional_float(raw, "final_logit_softcapping", path)
    if gemma2 and (attn_cap is None or final_cap is None):
        # llama.cpp's gemma2 graph caps both unconditionally (at 50 and 30 if absent)
        missing = "attn_logit_softcapping" if attn_cap is None else "final_logit_softcapping"
        raise ConvertError("unsupported_feature", f"{missing}=None", path=path, field=missing)
    if not gemma2 and attn_cap is not None:
        raise ConvertError(
            "unsupported_feature", path=path, field="attn_logit_softcapping"
        )  # llama.cpp's gemma3 has no attention softcap
    swa = _sliding_layers(raw, path, gemma2, n_layer)
    window = raw.get("sliding_window")
    if gemma2 or (window is not None and any(swa)):
        window = int_field(raw, "sliding_window", path)
    else:
        window, swa = 0, (False,) * n_layer
    theta_swa = None
    if not gemma2:
        local = raw.get("rope_local_base_freq", rope_sliding.get("rope_theta"))
        theta_swa = float_field({"rope_local_base_freq": local}, "rope_local_base_freq", path, 1e4)
    scalar = float_field(raw, "query_pre_attn_scalar", path, 256.0)
    llama_dim = hidden // n_head if n_layer == _LARGE_LAYERS[arch] else head_dim
    return GemmaParams(
        sliding_window=window,
        swa_layers=swa,
        rope_theta_swa=theta_swa,
        attn_softcap=attn_cap,
        final_softcap=final_cap,
        query_scale=math.sqrt(llama_dim / scalar),
    )


def _sliding_layers(
    raw: dict[str, Any], path: Path, gemma2: bool, n_layer: int
) -> tuple[bool, ...]:
    kinds = raw.get("layer_types")
    if kinds is not None:
        if not isinstance(kinds, list) or len(kinds) != n_layer:
            raise ConvertError("bad_config", "layer_types length", path=path, field="layer_types")
        if any(k not in _LAYER_KINDS for k in kinds):
            raise ConvertError(
                "unsupported_feature", str(kinds)[:80], path=path, field="layer_types"
            )
        return tuple(_LAYER_KINDS[k] for k in kinds)
    if gemma2:
        return tuple(i % 2 == 0 for i in range(n_layer))
    key = "sliding_window_pattern"  # saved as "_sliding_window_pattern" by newer transformers
    period = int_field({key: raw.get(key, raw.get("_" + key))}, key, path, default=6)
    return tuple((i + 1) % period != 0 for i in range(n_layer))


def gemma_layer_rows(cfg: HFConfig) -> dict[str, tuple[tuple[int, ...], str]]:
    """GGUF tensor suffix -> (numpy shape, HF suffix) for one Gemma layer."""
    h, hd, ff = cfg.hidden_size, cfg.head_dim, cfg.n_ff
    q_rows, kv_rows = cfg.n_head * hd, cfg.n_head_kv * hd
    rows = {
        "attn_norm.weight": ((h,), "input_layernorm.weight"),
        "attn_q.weight": ((q_rows, h), "self_attn.q_proj.weight"),
        "attn_k.weight": ((kv_rows, h), "self_attn.k_proj.weight"),
        "attn_v.weight": ((kv_rows, h), "self_attn.v_proj.weight"),
        "attn_output.weight": ((h, q_rows), "self_attn.o_proj.weight"),
        "post_attention_norm.weight": ((h,), "post_attention_layernorm.weight"),
        "ffn_norm.weight": ((h,), "pre_feedforward_layernorm.weight"),
        "ffn_gate.weight": ((ff, h), "mlp.gate_proj.weight"),
        "ffn_up.weight": ((ff, h), "mlp.up_proj.weight"),
        "ffn_down.weight": ((h, ff), "mlp.down_proj.weight"),
        "post_ffw_norm.weight": ((h,), "post_feedforward_layernorm.weight"),
    }
    if cfg.spec.qk_norm:
        rows["attn_q_norm.weight"] = ((hd,), "self_attn.q_norm.weight")
        rows["attn_k_norm.weight"] = ((hd,), "self_attn.k_norm.weight")
    return rows


def gemma_transform(cfg: HFConfig, name: str) -> tuple[float, float]:
    """(shift, scale) applied to a tensor's values: ``(x + shift) * scale``."""
    params = cfg.gemma
    assert params is not None
    shift = 1.0 if name.endswith("norm.weight") else 0.0
    scale = 1.0
    query = "attn_q_norm.weight" if cfg.spec.qk_norm else "attn_q.weight"
    if name.endswith("." + query) and params.query_scale != 1.0:
        scale = params.query_scale
    return shift, scale


def add_gemma_metadata(writer: gguf.GGUFWriter, params: GemmaParams) -> None:
    if params.attn_softcap is not None:
        writer.add_attn_logit_softcapping(params.attn_softcap)
    if params.final_softcap is not None:
        writer.add_final_logit_softcapping(params.final_softcap)
    if params.sliding_window:
        writer.add_sliding_window(params.sliding_window)
        writer.add_sliding_window_pattern(list(params.swa_layers))
    if params.rope_theta_swa is not None:
        writer.add_rope_freq_base_swa(params.rope_theta_swa)
