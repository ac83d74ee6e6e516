"""Sentences for the HF-to-GGUF converter's error codes and warnings (GUI and CLI).

``desktop_app.messages.describe_error`` hands ``ConvertError`` here; the convert command and
the Convert page use ``describe_convert_warning`` for a plan's warnings.
"""

from __future__ import annotations

from desktop_app.core.convert.errors import ConvertError
from desktop_app.formatting import human_bytes

_PROBLEMS = {
    "not_a_folder": "not a folder",
    "missing_config": "no config.json: this is not a Hugging Face model folder",
    "bad_config": "config.json is invalid",
    "unsupported_feature": "uses a feature the converter cannot reproduce",
    "pickle_refused": (
        "only pickle checkpoints (.bin/.pt/.pth) here; they can run code when loaded, so "
        "QuantDesk converts safetensors only"
    ),
    "no_weights": "no .safetensors weights in this folder",
    "missing_index": "several .safetensors files but no model.safetensors.index.json",
    "bad_index": "model.safetensors.index.json is invalid",
    "missing_shard": "weight files named by the index are missing",
    "index_mismatch": "model.safetensors.index.json does not match the weight files",
    "truncated": "a weight file is incomplete (truncated); download it again",
    "header_too_large": "a weight file's header is over the 100 MB safety limit",
    "bad_header": "a weight file's header is damaged",
    "unsupported_dtype": "holds tensors of a type the converter does not take",
    "bad_tensor_size": "a tensor's size does not match its shape",
    "overlapping_offsets": "two tensors overlap in a weight file (damaged or crafted file)",
    "unused_data": "a weight file has bytes that belong to no tensor (damaged file)",
    "duplicate_tensor": "a tensor appears in two weight files",
    "missing_tensor": "a tensor the model needs is missing",
    "unexpected_tensor": "has a tensor this architecture does not use",
    "shape_mismatch": "a tensor's shape does not match config.json",
    "missing_tokenizer": "no tokenizer.json or tokenizer.model",
    "bad_tokenizer": "the tokenizer files are invalid",
    "unsupported_tokenizer": "uses a tokenizer llama.cpp cannot run",
    "bad_outtype": "unknown output type",
    "exists": "already exists; nothing was overwritten",
    "permission_denied": "permission denied: the output folder cannot be written",
    "disk_full": "not enough disk space; nothing was written",
    "io_error": "a file could not be read or written",
    "cancelled": "conversion cancelled; nothing was written",
    "source_changed": "the model files changed while converting; nothing was written",
}

_WARNINGS = {
    "sliding_window_ignored": (
        "the model uses sliding-window attention, which llama.cpp does not apply to this "
        "architecture: answers beyond the window may differ"
    ),
    "pretokenizer_unrecognized": (
        "unrecognized pre-tokenizer: llama.cpp's default is used and tokenization may differ"
    ),
    "normalizer_ignored": "the tokenizer's text normalization is not reproduced by llama.cpp",
    "tokens_dropped": "tokens beyond the model's vocabulary size were left out",
    "tokenizer_model_unreadable": "tokenizer.model is unreadable; tokenizer.json was used",
    "byte_fallback_incomplete": (
        "the vocabulary lacks byte tokens: llama.cpp may stop on characters outside it"
    ),
    "q8_0_fallback_f16": "some tensors could not be Q8_0 (rows not a multiple of 32); kept F16",
}


def describe_convert_warning(code: str) -> str:
    return _WARNINGS.get(code, code)


def describe_convert_error(exc: ConvertError) -> str:
    """One sentence naming the file or tensor when known."""
    where = f"{exc.path}: " if exc.path is not None else ""
    text = _PROBLEMS.get(exc.code, exc.detail or exc.code)
    code = exc.code
    if code == "unsupported_architecture":
        supported = ", ".join(exc.supported)
        text = f"architecture {exc.architecture} is not supported"
        if exc.field == "vision":  # detail names the text-only architecture that is supported
            text += f": it is a vision-language model; only text-only {exc.detail} checkpoints are"
        return f"{where}{text} (supported: {supported})"
    if code == "pickle_refused" and exc.files:
        text += f" ({', '.join(exc.files[:5])})"
    elif code in ("missing_shard", "source_changed") and exc.files:
        text += f": {', '.join(exc.files[:5])}"
    elif code == "unsupported_dtype":
        text = f"tensor {exc.tensor} is {exc.dtype}; only F32, F16 and BF16 are converted"
    elif code == "shape_mismatch":
        text = f"tensor {exc.tensor} has shape {list(exc.actual or ())}, config.json implies "
        text += f"{list(exc.expected or ())}"
    elif code in ("missing_tensor", "unexpected_tensor", "overlapping_offsets") and exc.tensor:
        text += f": {exc.tensor}"
    elif code == "unsupported_feature" and exc.field and exc.detail:
        said = exc.detail.startswith(exc.field)  # "hidden_act='gelu'" names its field already
        text += f" ({exc.detail})" if said else f" ({exc.field}: {exc.detail})"
    elif code in ("bad_config", "unsupported_feature", "unsupported_tokenizer") and exc.field:
        text += f" ({exc.field})"
    elif code == "bad_outtype":
        text += f" (use one of {', '.join(exc.supported)})"
    elif code == "disk_full" and exc.needed is not None and exc.available is not None:
        text = (
            f"not enough disk space: needs {human_bytes(exc.needed)}, "
            f"{human_bytes(exc.available)} free"
        )
    if code in ("bad_header", "bad_tokenizer", "bad_index", "truncated") and exc.detail:
        text += f" ({exc.detail})"
    return f"{where}{text}"
