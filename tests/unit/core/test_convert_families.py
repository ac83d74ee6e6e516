"""Gemma 2, Gemma 3 and Phi-3 configs: what is read, and what llama.cpp cannot reproduce.

The logits of converted models are compared with a reference forward pass in
tests/integration/test_convert_llama_cpp.py; here, the config side: hyperparameters derived
for llama.cpp, and each refusal with the field it names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from convert_fakes import make_model
from desktop_app.core.convert import SUPPORTED_ARCHITECTURES, ConvertError, plan_conversion
from desktop_app.core.convert.hf_model import load_hf_folder
from desktop_app.messages import describe_error

GEMMA = {"Gemma2ForCausalLM", "Gemma3ForCausalLM"}


def _folder(tmp: Path, arch: str, **config: Any) -> Path:
    tok = "phi3-spm" if arch == "Phi3ForCausalLM" else "gemma-spm"
    return make_model(tmp / "m", arch, tok, **config)[0]


def _edit(folder: Path, **changes: Any) -> None:
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg))


def _refusal(folder: Path) -> ConvertError:
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "f16")
    return exc.value


def test_the_new_architectures_are_listed() -> None:
    assert {"Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM"} <= set(
        SUPPORTED_ARCHITECTURES
    )


def test_gemma2_config(tmp_path: Path) -> None:
    c = load_hf_folder(_folder(tmp_path, "Gemma2ForCausalLM", num_hidden_layers=4)).config
    assert c.gemma is not None and c.phi3 is None and c.tied_embeddings
    assert (c.gemma.attn_softcap, c.gemma.final_softcap) == (50.0, 30.0)
    assert c.gemma.swa_layers == (True, False, True, False)  # HF: even layers slide
    assert c.gemma.sliding_window == 4096 and c.gemma.rope_theta_swa is None
    assert c.gemma.query_scale == 1.0 and c.rope_dims == c.head_dim == 32


def test_gemma3_config_with_transformers5_rope_parameters(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Gemma3ForCausalLM", num_hidden_layers=7, sliding_window=512)
    rope = {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
        "sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
    }
    _edit(folder, rope_theta=None, rope_local_base_freq=None, rope_parameters=rope)
    c = load_hf_folder(folder).config
    assert c.gemma is not None
    assert c.gemma.swa_layers == (True,) * 5 + (False, True)  # every 6th layer is global
    assert (c.rope_theta, c.gemma.rope_theta_swa) == (1e6, 1e4)
    assert c.rope_scaling is not None and c.rope_scaling.factor == 8.0
    assert c.gemma.attn_softcap is None and c.gemma.final_softcap is None


def test_a_query_scale_other_than_llama_cpps_is_folded(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Gemma2ForCausalLM", query_pre_attn_scalar=128)
    c = load_hf_folder(folder).config
    assert c.gemma is not None and math.isclose(c.gemma.query_scale, math.sqrt(32 / 128))
    plan = plan_conversion(folder, "f16")
    scales = {j.name: (j.shift, j.scale) for j in plan.jobs}
    assert scales["blk.0.attn_q.weight"] == (0.0, c.gemma.query_scale)
    assert scales["blk.0.attn_k.weight"] == (0.0, 1.0)
    assert scales["blk.1.post_ffw_norm.weight"] == (1.0, 1.0)  # Gemma's 1 + weight
    assert scales["output_norm.weight"] == (1.0, 1.0)
    assert "output.weight" not in scales  # tied: gemma2 has no output tensor


def test_the_27b_layer_count_uses_llama_cpps_other_scale(tmp_path: Path) -> None:
    """llama.cpp scales by hidden/heads for 46-layer Gemma 2; HF by query_pre_attn_scalar."""
    folder = _folder(tmp_path, "Gemma2ForCausalLM", num_hidden_layers=46)
    _edit(folder, query_pre_attn_scalar=16)  # = 64 / 4 heads: what llama.cpp uses there
    c = load_hf_folder(folder).config
    assert c.gemma is not None and c.gemma.query_scale == 1.0


def test_gemma3_q_norm_takes_the_fold(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Gemma3ForCausalLM", query_pre_attn_scalar=8)
    scales = {j.name: (j.shift, j.scale) for j in plan_conversion(folder, "f32").jobs}
    assert scales["blk.0.attn_q_norm.weight"] == (1.0, 2.0)  # sqrt(32 / 8)
    assert scales["blk.0.attn_q.weight"] == (0.0, 1.0)  # the norm would undo it here
    assert scales["blk.0.attn_k_norm.weight"] == (1.0, 1.0)


def test_phi3_config(tmp_path: Path) -> None:
    plan = plan_conversion(_folder(tmp_path, "Phi3ForCausalLM"), "f16")
    c = plan.model.config
    assert c.phi3 is not None and c.rope_dims == 8 and c.phi3.original_context == 256
    assert "sliding_window_ignored" in plan.warnings  # llama.cpp's phi3 has no window
    shapes = {j.name: j.shape for j in plan.jobs}
    assert shapes["blk.0.attn_qkv.weight"] == ((4 + 2 * 2) * 16, 64)
    assert shapes["blk.0.ffn_up.weight"] == (2 * 96, 64)
    assert not any("ffn_gate" in n or "attn_q." in n for n in shapes)


def test_a_multimodal_gemma3_is_refused_with_the_text_model_named(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Gemma3ForCausalLM")
    _edit(folder, architectures=["Gemma3ForConditionalGeneration"])
    err = _refusal(folder)
    assert (err.code, err.field, err.detail) == (
        "unsupported_architecture",
        "vision",
        "Gemma3ForCausalLM",
    )
    text = describe_error(err)
    assert "vision-language" in text and "Gemma3ForCausalLM" in text and "Phi3ForCausalLM" in text


@pytest.mark.parametrize(
    ("arch", "changes", "field"),
    [
        ("Gemma2ForCausalLM", {"hidden_activation": "gelu"}, "hidden_activation"),
        ("Gemma2ForCausalLM", {"final_logit_softcapping": None}, "final_logit_softcapping"),
        ("Gemma2ForCausalLM", {"attn_logit_softcapping": None}, "attn_logit_softcapping"),
        ("Gemma2ForCausalLM", {"tie_word_embeddings": False}, "tie_word_embeddings"),
        ("Gemma3ForCausalLM", {"attn_logit_softcapping": 50.0}, "attn_logit_softcapping"),
        ("Gemma3ForCausalLM", {"layer_types": ["chunked_attention"] * 2}, "layer_types"),
        (
            "Gemma3ForCausalLM",
            {"rope_scaling": {"rope_type": "yarn", "factor": 8.0}},
            "rope_scaling",
        ),
        (
            "Gemma3ForCausalLM",
            {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}},
            "rope_scaling",
        ),
        (
            "Phi3ForCausalLM",
            {
                "rope_scaling": {
                    "type": "longrope",
                    "long_factor": [1.0] * 4,
                    "short_factor": [1.0] * 4,
                }
            },
            "rope_scaling",
        ),
        ("Phi3ForCausalLM", {"rope_scaling": {"type": "su"}}, "rope_scaling"),
        ("Phi3ForCausalLM", {"head_dim": 32}, "head_dim"),
    ],
)
def test_what_llama_cpp_cannot_reproduce_is_refused(
    tmp_path: Path, arch: str, changes: dict[str, Any], field: str
) -> None:
    folder = _folder(tmp_path, arch)
    _edit(folder, **changes)
    err = _refusal(folder)
    assert (err.code, err.field) == ("unsupported_feature", field)
    assert field in describe_error(err)


@pytest.mark.parametrize(
    ("arch", "changes", "field"),
    [
        ("Gemma3ForCausalLM", {"layer_types": ["full_attention"]}, "layer_types"),
        ("Gemma3ForCausalLM", {"sliding_window_pattern": 0}, "sliding_window_pattern"),
        ("Gemma2ForCausalLM", {"sliding_window": "4096"}, "sliding_window"),
        ("Gemma2ForCausalLM", {"query_pre_attn_scalar": -1}, "query_pre_attn_scalar"),
        ("Gemma2ForCausalLM", {"final_logit_softcapping": "big"}, "final_logit_softcapping"),
        ("Phi3ForCausalLM", {"partial_rotary_factor": 0}, "partial_rotary_factor"),
        ("Phi3ForCausalLM", {"partial_rotary_factor": 1.5}, "partial_rotary_factor"),
        ("Phi3ForCausalLM", {"partial_rotary_factor": 0.1}, "partial_rotary_factor"),  # 1 dim
        ("Phi3ForCausalLM", {"partial_rotary_factor": True}, "partial_rotary_factor"),
        (
            "Phi3ForCausalLM",
            {"original_max_position_embeddings": 0},
            "original_max_position_embeddings",
        ),
    ],
)
def test_invalid_family_fields(
    tmp_path: Path, arch: str, changes: dict[str, Any], field: str
) -> None:
    folder = _folder(tmp_path, arch)
    _edit(folder, **changes)
    err = _refusal(folder)
    assert (err.code, err.field) == ("bad_config", field)


def test_gemma3_pattern_under_its_newer_name(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Gemma3ForCausalLM", num_hidden_layers=4)
    _edit(folder, sliding_window_pattern=None, _sliding_window_pattern=2)
    c = load_hf_folder(folder).config
    assert c.gemma is not None and c.gemma.swa_layers == (True, False, True, False)


def test_a_gemma3_without_sliding_layers_writes_no_window(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Gemma3ForCausalLM", sliding_window_pattern=1)
    c = load_hf_folder(folder).config
    assert c.gemma is not None and c.gemma.sliding_window == 0
    assert c.gemma.swa_layers == (False, False)


@pytest.mark.parametrize("arch", sorted(GEMMA))
def test_a_stored_lm_head_copy_of_tied_gemma_is_dropped(tmp_path: Path, arch: str) -> None:
    folder = make_model(tmp_path / "m", arch, "gemma-spm", stored="both")[0]
    names = {j.name for j in plan_conversion(folder, "f16").jobs}
    assert "token_embd.weight" in names and "output.weight" not in names
