"""Hugging Face safetensors folders to GGUF (f32, f16, bf16, q8_0), without torch.

Public API: ``plan_conversion`` (validate + size, headers only), ``convert_hf_to_gguf``
(stream to a temp file, atomic rename), ``ConvertError`` (typed, with a ``code``),
``ConvertProgress``, ``ConversionPlan``, ``OUT_TYPES`` and ``SUPPORTED_ARCHITECTURES``.

Names are imported lazily: ``desktop_app.core.convert.errors`` stays cheap to import (the
messages module needs it at start-up) while the converter pulls in numpy and gguf.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop_app.core.convert.converter import (
        OUT_TYPES,
        ConversionPlan,
        ConvertProgress,
        convert_hf_to_gguf,
        plan_conversion,
    )
    from desktop_app.core.convert.errors import ConvertError
    from desktop_app.core.convert.hf_model import SUPPORTED_ARCHITECTURES

_WHERE = {
    "OUT_TYPES": "converter",
    "ConversionPlan": "converter",
    "ConvertProgress": "converter",
    "convert_hf_to_gguf": "converter",
    "plan_conversion": "converter",
    "ConvertError": "errors",
    "SUPPORTED_ARCHITECTURES": "hf_model",
}

__all__ = [
    "OUT_TYPES",
    "SUPPORTED_ARCHITECTURES",
    "ConversionPlan",
    "ConvertError",
    "ConvertProgress",
    "convert_hf_to_gguf",
    "plan_conversion",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
