"""A Hugging Face model folder, read as data: config, weights, tokenizer files.

Nothing from the folder is ever executed: no ``trust_remote_code``, no ``auto_map`` classes, no
pickle. Pickle checkpoints (``.bin``, ``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) are never opened;
a folder that has only those is refused with ``pickle_refused``. JSON files are size-capped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from desktop_app.core.convert.arch_gemma import GemmaParams, parse_gemma
from desktop_app.core.convert.arch_phi3 import Phi3Params, parse_phi3
from desktop_app.core.convert.config_fields import float_field as _float
from desktop_app.core.convert.config_fields import int_field as _int
from desktop_app.core.convert.errors import ConvertError, os_error
from desktop_app.core.convert.safetensors_reader import find_weight_files

CONFIG_CAP = 16 * 1024 * 1024
TOKENIZER_JSON_CAP = 64 * 1024 * 1024  # the largest known (Gemma 3) is 33 MB
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@dataclass(frozen=True)
class ArchSpec:
    """How one Hugging Face architecture maps onto a llama.cpp one."""

    hf_name: str
    gguf_arch: gguf.MODEL_ARCH
    permute_qk: bool  # HF rotate_half vs llama.cpp's NORM rope: reorder q/k rows
    qkv_bias: bool  # q/k/v biases are always present (Qwen2)
    qk_norm: bool  # per-head RMSNorm of q and k before rope (Qwen3)
    attention_bias_allowed: bool  # config.attention_bias may add q/k/v/o biases
    default_context: int
    llama3_rope_allowed: bool
    family: str = "llama"  # "llama" (Llama/Mistral/Qwen), "gemma" or "phi3": tensors, metadata
    tied_default: bool = False  # tie_word_embeddings when config.json does not say


SUPPORTED: dict[str, ArchSpec] = {
    spec.hf_name: spec
    for spec in (
        ArchSpec("LlamaForCausalLM", gguf.MODEL_ARCH.LLAMA, True, False, False, True, 2048, True),
        ArchSpec(
            "MistralForCausalLM", gguf.MODEL_ARCH.LLAMA, True, False, False, True, 32768, True
        ),
        ArchSpec(
            "Qwen2ForCausalLM", gguf.MODEL_ARCH.QWEN2, False, True, False, False, 32768, False
        ),
        ArchSpec(
            "Qwen3ForCausalLM", gguf.MODEL_ARCH.QWEN3, False, False, True, False, 32768, False
        ),
        ArchSpec(
            "Gemma2ForCausalLM", gguf.MODEL_ARCH.GEMMA2, False, False, False, False, 8192, False,
            family="gemma", tied_default=True,
        ),
        ArchSpec(
            "Gemma3ForCausalLM", gguf.MODEL_ARCH.GEMMA3, False, False, True, False, 131072, False,
            family="gemma", tied_default=True,
        ),
        ArchSpec(
            "Phi3ForCausalLM", gguf.MODEL_ARCH.PHI3, False, False, False, False, 4096, False,
            family="phi3",
        ),
    )
}  # fmt: skip
SUPPORTED_ARCHITECTURES: tuple[str, ...] = tuple(SUPPORTED)
# Vision-language wrappers whose text model alone is supported (refused with field="vision").
TEXT_MODEL_OF = {"Gemma3ForConditionalGeneration": "Gemma3ForCausalLM"}


@dataclass(frozen=True)
class RopeScaling:
    kind: str  # "linear" or "llama3"
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_context: int = 8192


@dataclass(frozen=True)
class HFConfig:
    """The hyperparameters conversion needs, validated."""

    architecture: str
    spec: ArchSpec
    hidden_size: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    vocab_size: int
    head_dim: int
    head_dim_explicit: bool
    rms_norm_eps: float
    rope_theta: float
    context_length: int
    tied_embeddings: bool
    attention_bias: bool
    rope_scaling: RopeScaling | None
    warnings: tuple[str, ...] = ()
    gemma: GemmaParams | None = None
    phi3: Phi3Params | None = None

    @property
    def rope_dims(self) -> int:
        """Rotated values per head (all of them but for Phi-3's partial rotary)."""
        return self.phi3.rope_dims if self.phi3 is not None else self.head_dim


@dataclass(frozen=True)
class HFModelFolder:
    path: Path
    config: HFConfig
    weight_files: tuple[Path, ...]
    tokenizer_model: Path | None
    tokenizer_json: Path | None
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    generation_config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return model_display_name(self.path)

    def source_files(self) -> list[Path]:
        """Every file the conversion reads (watched for changes while converting)."""
        names = ["config.json", "tokenizer_config.json", "generation_config.json"]
        names += ["tokenizer.json", "tokenizer.model", "model.safetensors.index.json"]
        files = [self.path / n for n in names if (self.path / n).is_file()]
        return files + list(self.weight_files)


def model_display_name(folder: Path) -> str:
    """The folder's name, or the repo name for a Hugging Face cache snapshot folder."""
    resolved = folder.resolve()
    parent = resolved.parent
    if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
        return parent.parent.name.split("--")[-1]
    return resolved.name


def read_json(path: Path, cap: int, code: str) -> Any:
    """Parse a capped JSON file; ``code`` names the error for bad content."""
    try:
        if path.stat().st_size > cap:
            raise ConvertError(code, f"{path.name} is over {cap} bytes", path=path, field=path.name)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise os_error(exc, path) from exc
    except UnicodeDecodeError as exc:
        raise ConvertError(code, f"not UTF-8: {exc}", path=path, field=path.name) from exc
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConvertError(code, f"not JSON: {exc}", path=path, field=path.name) from exc


def load_hf_folder(src: str | Path) -> HFModelFolder:
    """Read and validate a model folder (no tensor data is read)."""
    folder = Path(src)
    if not folder.is_dir():
        raise ConvertError("not_a_folder", path=folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConvertError("missing_config", path=folder)
    raw = read_json(config_path, CONFIG_CAP, "bad_config")
    if not isinstance(raw, dict):
        raise ConvertError("bad_config", "not a JSON object", path=config_path)
    config = parse_config(raw, config_path)
    weights = find_weight_files(folder)
    if not weights:
        pickles = tuple(sorted(p.name for p in folder.iterdir() if _is_pickle(p)))
        if pickles:
            raise ConvertError("pickle_refused", path=folder, files=pickles)
        raise ConvertError("no_weights", path=folder)
    spm = folder / "tokenizer.model"
    tok_json = folder / "tokenizer.json"
    if not spm.is_file() and not tok_json.is_file():
        raise ConvertError("missing_tokenizer", path=folder)
    tok_config = _optional_json(folder / "tokenizer_config.json", "bad_tokenizer")
    gen_config = _optional_json(folder / "generation_config.json", "bad_config")
    return HFModelFolder(
        path=folder,
        config=config,
        weight_files=tuple(weights),
        tokenizer_model=spm if spm.is_file() else None,
        tokenizer_json=tok_json if tok_json.is_file() else None,
        tokenizer_config=tok_config,
        generation_config=gen_config,
    )


def _is_pickle(path: Path) -> bool:
    return path.suffix.lower() in PICKLE_SUFFIXES and path.is_file()


def _optional_json(path: Path, code: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = read_json(path, CONFIG_CAP, code)
    if not isinstance(data, dict):
        raise ConvertError(code, "not a JSON object", path=path, field=path.name)
    return data


def parse_config(raw: dict[str, Any], path: Path) -> HFConfig:
    archs = raw.get("architectures")
    if not isinstance(archs, list) or not archs or not isinstance(archs[0], str):
        raise ConvertError("bad_config", "no architectures", path=path, field="architectures")
    arch = archs[0]
    spec = SUPPORTED.get(arch)
    if spec is None:
        raise ConvertError(
            "unsupported_architecture",
            TEXT_MODEL_OF.get(arch, ""),
            path=path,
            architecture=arch[:100],
            supported=SUPPORTED_ARCHITECTURES,
            field="vision" if arch in TEXT_MODEL_OF else "",
        )
    hidden = _int(raw, "hidden_size", path)
    n_head = _int(raw, "num_attention_heads", path)
    n_head_kv = _int(raw, "num_key_value_heads", path, default=n_head)
    explicit = raw.get("head_dim") is not None
    if explicit:
        head_dim = _int(raw, "head_dim", path)
    elif hidden % n_head:
        raise ConvertError("bad_config", "hidden_size % heads", path=path, field="head_dim")
    else:
        head_dim = hidden // n_head
    if n_head % n_head_kv or head_dim % 2:
        raise ConvertError("bad_config", "heads/kv heads/head_dim", path=path, field="head_dim")
    act = raw.get("hidden_act", "silu")
    if act != "silu" and spec.family != "gemma":  # Gemma's GELU: arch_gemma checks it
        raise ConvertError(
            "unsupported_feature", f"hidden_act={act!r}", path=path, field="hidden_act"
        )
    if raw.get("mlp_bias"):
        raise ConvertError("unsupported_feature", "mlp_bias", path=path, field="mlp_bias")
    attention_bias = bool(raw.get("attention_bias", False))
    if attention_bias and not spec.attention_bias_allowed:
        raise ConvertError("unsupported_feature", path=path, field="attention_bias")
    rope_params = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
    if not isinstance(rope_params, dict):
        raise ConvertError("bad_config", "rope_scaling", path=path, field="rope_scaling")
    # transformers 5 may give rope parameters per layer kind (Gemma 3): global, then sliding
    rope_sliding = rope_params.get("sliding_attention")
    rope_sliding = rope_sliding if isinstance(rope_sliding, dict) else {}
    full = rope_params.get("full_attention")
    if isinstance(full, dict):
        rope_params = full
    theta = raw.get("rope_theta", rope_params.get("rope_theta"))
    rope_theta = _float({"rope_theta": theta}, "rope_theta", path, 10000.0)
    scaling = _rope_scaling(rope_params, spec, path)
    context = _int(raw, "max_position_embeddings", path, default=spec.default_context)
    n_layer = _int(raw, "num_hidden_layers", path)
    warnings: list[str] = []
    window = raw.get("sliding_window")
    sliding = raw.get("use_sliding_window", spec.family == "phi3" or arch.startswith("Mistral"))
    if sliding and isinstance(window, int) and 0 < window < context and spec.family != "gemma":
        warnings.append("sliding_window_ignored")
    gemma = phi3 = None
    if spec.family == "gemma":
        gemma = parse_gemma(
            raw, path, arch, n_layer=n_layer, hidden=hidden, n_head=n_head, head_dim=head_dim,
            rope_sliding=rope_sliding,
        )  # fmt: skip
    elif spec.family == "phi3":
        phi3 = parse_phi3(
            raw, path, hidden=hidden, n_head=n_head, head_dim=head_dim, context=context,
            rope_params=rope_params,
        )  # fmt: skip
    tied = raw.get("tie_word_embeddings", spec.tied_default)
    if not tied and spec.gguf_arch == gguf.MODEL_ARCH.GEMMA2:  # llama.cpp has no output tensor
        raise ConvertError("unsupported_feature", path=path, field="tie_word_embeddings")
    return HFConfig(
        architecture=arch,
        spec=spec,
        hidden_size=hidden,
        n_layer=n_layer,
        n_head=n_head,
        n_head_kv=n_head_kv,
        n_ff=_int(raw, "intermediate_size", path),
        vocab_size=_int(raw, "vocab_size", path),
        head_dim=head_dim,
        head_dim_explicit=explicit,
        rms_norm_eps=_float(raw, "rms_norm_eps", path, 1e-6),
        rope_theta=rope_theta,
        context_length=context,
        tied_embeddings=bool(tied),
        attention_bias=attention_bias,
        rope_scaling=scaling,
        warnings=tuple(warnings),
        gemma=gemma,
        phi3=phi3,
    )


def _rope_scaling(params: dict[str, Any], spec: ArchSpec, path: Path) -> RopeScaling | None:
    kind = params.get("rope_type", params.get("type", "default"))
    if kind in (None, "default"):
        return None
    if kind == "linear":
        return RopeScaling("linear", _float(params, "factor", path, 1.0))
    if kind == "llama3" and spec.llama3_rope_allowed:
        return RopeScaling(
            "llama3",
            factor=_float(params, "factor", path, 8.0),
            low_freq_factor=_float(params, "low_freq_factor", path, 1.0),
            high_freq_factor=_float(params, "high_freq_factor", path, 4.0),
            original_context=_int(params, "original_max_position_embeddings", path, 8192),
        )
    raise ConvertError(
        "unsupported_feature", f"rope type {str(kind)[:40]}", path=path, field="rope_scaling"
    )
