"""Tiny Gemma 2, Gemma 3 and Phi-3 checkpoints for the converter tests (see convert_fakes.py).

Configs carry the keys the real models' config.json files have (softcapping, sliding window,
query_pre_attn_scalar, rope_local_base_freq, partial_rotary_factor...), at tiny sizes; weights
are in HF's layout (Phi-3's fused ``qkv_proj`` and ``gate_up_proj``). Gemma's norm weights are
drawn around 0, since Gemma multiplies by ``1 + weight``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# Gemma's first ids: <pad> <eos> <bos> <unk>, then its chat turn markers (USER_DEFINED pieces
# in Gemma's tokenizer.model, marked special in tokenizer_config.json).
GEMMA_HEAD = [("<pad>", 3), ("<eos>", 3), ("<bos>", 3), ("<unk>", 2)]
GEMMA_TURNS = ["<start_of_turn>", "<end_of_turn>"]
GEMMA_IDS = {"unk": 3, "bos": 2, "eos": 1, "pad": 0}
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}"
)

# Phi-3's added tokens (content, rstrip) as its tokenizer files mark them.
PHI3_ADDED = [
    ("<|endoftext|>", False),
    ("<|assistant|>", True),
    ("<|end|>", True),
    ("<|user|>", True),
]
PHI3_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "<|assistant|>\n"
)

GEMMA2_CONFIG: dict[str, Any] = {
    "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh",
    "head_dim": 32,
    "query_pre_attn_scalar": 32,
    "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0,
    "sliding_window": 4096,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "pad_token_id": 0,
    "model_type": "gemma2",
}
GEMMA3_CONFIG: dict[str, Any] = {
    **{k: v for k, v in GEMMA2_CONFIG.items() if "softcapping" not in k},
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "rope_theta": 1_000_000.0,
    "rope_local_base_freq": 10_000.0,
    "sliding_window_pattern": 6,
    "model_type": "gemma3_text",
}
PHI3_CONFIG: dict[str, Any] = {
    "original_max_position_embeddings": 256,
    "sliding_window": 255,
    "partial_rotary_factor": 0.5,
    "pad_token_id": 0,
    "model_type": "phi3",
}
FAMILY_CONFIGS = {
    "Gemma2ForCausalLM": GEMMA2_CONFIG,
    "Gemma3ForCausalLM": GEMMA3_CONFIG,
    "Phi3ForCausalLM": PHI3_CONFIG,
}

Mat = Callable[[int, int], np.ndarray]
Vec = Callable[..., np.ndarray]


def family_weights(cfg: dict[str, Any], mat: Mat, vec: Vec) -> dict[str, np.ndarray] | None:
    """The layers of a Gemma or Phi-3 model (no embeddings/final norm), None for others."""
    arch = cfg["architectures"][0]
    h, ff = cfg["hidden_size"], cfg["intermediate_size"]
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // n_head
    w: dict[str, np.ndarray] = {}
    if arch.startswith("Gemma"):
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            for norm in ("input", "post_attention", "pre_feedforward", "post_feedforward"):
                w[p + f"{norm}_layernorm.weight"] = vec(h, 0.0)
            w[p + "self_attn.q_proj.weight"] = mat(n_head * hd, h)
            w[p + "self_attn.k_proj.weight"] = mat(n_kv * hd, h)
            w[p + "self_attn.v_proj.weight"] = mat(n_kv * hd, h)
            w[p + "self_attn.o_proj.weight"] = mat(h, n_head * hd)
            if arch == "Gemma3ForCausalLM":
                w[p + "self_attn.q_norm.weight"] = vec(hd, 0.0)
                w[p + "self_attn.k_norm.weight"] = vec(hd, 0.0)
            w[p + "mlp.gate_proj.weight"] = mat(ff, h)
            w[p + "mlp.up_proj.weight"] = mat(ff, h)
            w[p + "mlp.down_proj.weight"] = mat(h, ff)
        return w
    if arch == "Phi3ForCausalLM":
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            w[p + "input_layernorm.weight"] = vec(h)
            w[p + "self_attn.qkv_proj.weight"] = mat((n_head + 2 * n_kv) * hd, h)
            w[p + "self_attn.o_proj.weight"] = mat(h, n_head * hd)
            w[p + "post_attention_layernorm.weight"] = vec(h)
            w[p + "mlp.gate_up_proj.weight"] = mat(2 * ff, h)
            w[p + "mlp.down_proj.weight"] = mat(h, ff)
        return w
    return None
