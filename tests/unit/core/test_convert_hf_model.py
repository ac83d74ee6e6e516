"""Reading a HF model folder: config validation, architectures, pickle refusal, tokenizer files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convert_fakes import make_model
from desktop_app.core.convert import SUPPORTED_ARCHITECTURES, ConvertError, plan_conversion
from desktop_app.core.convert.hf_model import load_hf_folder


def _edit_config(folder: Path, **changes: Any) -> None:
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg))


def _error(folder: Path) -> ConvertError:
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "f16")
    return exc.value


def test_a_complete_folder_is_read(tmp_path: Path) -> None:
    folder, _w, cfg, _t = make_model(tmp_path / "m", "Qwen3ForCausalLM", "qwen2", head_dim=32)
    model = load_hf_folder(folder)
    c = model.config
    assert (c.architecture, c.hidden_size, c.n_layer, c.n_head, c.n_head_kv) == (
        "Qwen3ForCausalLM", 64, 2, 4, 2,
    )  # fmt: skip
    assert (c.head_dim, c.head_dim_explicit, c.vocab_size) == (32, True, cfg["vocab_size"])
    assert c.spec.qk_norm and not c.spec.permute_qk
    assert model.tokenizer_json is not None and model.tokenizer_model is None
    assert model.generation_config["top_k"] == 40
    assert model.tokenizer_config["eos_token"] == "<|im_end|>"
    assert {p.name for p in model.source_files()} >= {"config.json", "model.safetensors"}


def test_not_a_folder(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope").code == "not_a_folder"


def test_missing_config(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "config.json").unlink()
    assert _error(folder).code == "missing_config"


@pytest.mark.parametrize("text", ["{oops", "[]", '"string"', "\xff"])
def test_unreadable_config(tmp_path: Path, text: str) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "config.json").write_bytes(text.encode("latin-1"))
    assert _error(folder).code == "bad_config"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hidden_size", None),
        ("hidden_size", "64"),
        ("hidden_size", 0),
        ("num_attention_heads", 5),  # 64 % 5
        ("num_key_value_heads", 3),  # 4 % 3
        ("intermediate_size", True),
        ("rms_norm_eps", -1.0),
        ("rope_theta", "big"),
        ("architectures", []),
        ("architectures", None),
    ],
)
def test_invalid_config_fields(tmp_path: Path, key: str, value: Any) -> None:
    folder, *_ = make_model(tmp_path / "m")
    _edit_config(folder, **{key: value})
    err = _error(folder)
    assert err.code == "bad_config"


def test_an_unsupported_architecture_lists_the_supported_ones(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    _edit_config(folder, architectures=["GPTNeoXForCausalLM"], auto_map={"AutoModel": "x.Y"})
    err = _error(folder)
    assert err.code == "unsupported_architecture"
    assert err.architecture == "GPTNeoXForCausalLM"
    assert err.supported == SUPPORTED_ARCHITECTURES
    assert {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"} <= set(err.supported)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hidden_act": "gelu"}, "hidden_act"),
        ({"mlp_bias": True}, "mlp_bias"),
        ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope_scaling"),
        ({"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "rope_scaling"),
    ],
)
def test_features_llama_cpp_cannot_reproduce(
    tmp_path: Path, changes: dict[str, Any], field: str
) -> None:
    folder, *_ = make_model(tmp_path / "m")
    _edit_config(folder, **changes)
    err = _error(folder)
    assert (err.code, err.field) == ("unsupported_feature", field)


def test_llama3_rope_is_only_for_llama(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", "Qwen2ForCausalLM", "qwen2")
    _edit_config(folder, rope_scaling={"rope_type": "llama3", "factor": 8.0})
    assert _error(folder).field == "rope_scaling"


@pytest.mark.parametrize("names", [["pytorch_model.bin"], ["model.pt", "extra.pth"], ["w.ckpt"]])
def test_pickle_only_folders_are_refused_without_opening_them(
    tmp_path: Path, names: list[str]
) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    for name in names:
        (folder / name).write_bytes(b"\x80\x04 not loaded, ever")
    err = _error(folder)
    assert err.code == "pickle_refused" and err.files == tuple(sorted(names))


def test_pickle_files_next_to_safetensors_are_ignored(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "training_args.bin").write_bytes(b"\x80\x04 never opened")
    assert plan_conversion(folder, "f16").model.weight_files == (folder / "model.safetensors",)


def test_no_weights_at_all(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    assert _error(folder).code == "no_weights"


def test_missing_tokenizer(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", tokenizer="spm")
    (folder / "tokenizer.model").unlink()
    assert _error(folder).code == "missing_tokenizer"


def test_a_bad_outtype(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    with pytest.raises(ConvertError) as exc:
        plan_conversion(folder, "q4_k")
    assert exc.value.code == "bad_outtype" and "q8_0" in exc.value.supported


def test_mistral_sliding_window_is_reported(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m", "MistralForCausalLM", sliding_window=64)
    assert "sliding_window_ignored" in plan_conversion(folder, "f16").warnings


def test_a_hub_cache_snapshot_is_named_after_its_repo(tmp_path: Path) -> None:
    snapshot = tmp_path / "models--Qwen--Qwen2.5-0.5B" / "snapshots" / ("a" * 40)
    folder, *_ = make_model(snapshot, "Qwen2ForCausalLM", "qwen2")
    assert load_hf_folder(folder).name == "Qwen2.5-0.5B"
    assert load_hf_folder(make_model(tmp_path / "My-Model")[0]).name == "My-Model"
