"""Typed readers of config.json fields: each bad value is a ``bad_config`` naming the field.

Shared by hf_model.py and the per-family modules (arch_gemma.py, arch_phi3.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from desktop_app.core.convert.errors import ConvertError

INT_CAP = 1 << 31


def int_field(raw: dict[str, Any], key: str, path: Path, default: int | None = None) -> int:
    """A positive integer below 2**31; a missing or null value takes ``default`` if given."""
    value = raw.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < INT_CAP:
        raise ConvertError("bad_config", f"{key}={value!r}", path=path, field=key)
    return value


def float_field(raw: dict[str, Any], key: str, path: Path, default: float) -> float:
    """A finite positive number; a missing or null value takes ``default``."""
    value = raw.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConvertError("bad_config", f"{key}={value!r}", path=path, field=key)
    if not math.isfinite(value) or value <= 0:
        raise ConvertError("bad_config", f"{key}={value!r}", path=path, field=key)
    return float(value)


def optional_float(raw: dict[str, Any], key: str, path: Path) -> float | None:
    """A finite positive number, or None when the key is missing or null."""
    if raw.get(key) is None:
        return None
    return float_field(raw, key, path, 1.0)
