"""ModelFacts to and from JSON, for the library's header cache.

The codec is driven by the dataclass's own fields, so a field added to ``ModelFacts`` later is
cached without touching this module when it is a plain value (int, float, str, bool, None);
a field of any other type makes ``SCHEMA`` change and ``encode`` fail loudly in the tests, not
silently drop data. ``decode`` checks every value's type: the cache is a file on disk, and a
damaged one must read as "not cached", never as facts with a string where a count should be.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from typing import Any

from desktop_app.core.model_facts import ModelFacts, TensorTypeStats
from desktop_app.core.quant_types import file_type_by_id
from desktop_app.core.sliding_window import SlidingWindow

__all__ = ["SCHEMA", "decode_facts", "encode_facts"]

_HINTS = typing.get_type_hints(ModelFacts)
_FIELDS = tuple(f.name for f in dataclasses.fields(ModelFacts))
# Fields with their own encoding below; "path" is not stored: a cached file may have moved.
_SPECIAL = {"path", "file_type", "tensor_types", "tensors", "n_head_kv_per_layer", "swa"}
_SCALARS = (int, float, str, bool)

# Changes whenever ModelFacts gains, loses or retypes a field, so old caches are dropped.
SCHEMA = hashlib.sha256(
    repr(sorted((name, str(hint)) for name, hint in _HINTS.items())).encode()
).hexdigest()[:16]


def _scalar_types(hint: Any) -> tuple[type, ...] | None:
    """(int,) for ``int``, (str, NoneType) for ``str | None``; None for anything else."""
    if hint in _SCALARS:
        return (hint,)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
        if all(a in _SCALARS or a is type(None) for a in args):
            return tuple(args)
    return None


_PLAIN: dict[str, tuple[type, ...]] = {}
for _name in _FIELDS:
    if _name in _SPECIAL:
        continue
    _types = _scalar_types(_HINTS[_name])
    if _types is None:  # pragma: no cover - only when ModelFacts grows a complex field
        raise TypeError(f"facts_codec cannot encode ModelFacts.{_name}: {_HINTS[_name]}")
    _PLAIN[_name] = _types


def encode_facts(facts: ModelFacts) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(facts, name) for name in _PLAIN}
    data["file_type"] = facts.file_type.ftype if facts.file_type is not None else None
    data["tensor_types"] = {
        k: [v.count, v.n_bytes, v.n_elements] for k, v in facts.tensor_types.items()
    }
    data["tensors"] = [list(t) for t in facts.tensors]
    per_layer = facts.n_head_kv_per_layer
    data["n_head_kv_per_layer"] = list(per_layer) if per_layer is not None else None
    swa = facts.swa
    data["swa"] = {"window": swa.window, "layers": list(swa.layers)} if swa else None
    return data


def _check(value: Any, allowed: tuple[type, ...], what: str) -> Any:
    # bool is an int subclass: a bool where an int is due (or the reverse) is damage too.
    if type(value) not in allowed and not (float in allowed and type(value) is int):
        raise ValueError(f"{what}: {type(value).__name__}")
    return value


def _ints(value: Any, n: int | None, what: str) -> list[int]:
    if not isinstance(value, list) or (n is not None and len(value) != n):
        raise ValueError(what)
    return [_check(v, (int,), what) for v in value]


def decode_facts(data: Any, path: str) -> ModelFacts:
    """Rebuild facts cached by ``encode_facts``; raises ValueError for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError("facts is not an object")
    kwargs: dict[str, Any] = {"path": path}
    try:
        for name, allowed in _PLAIN.items():
            kwargs[name] = _check(data[name], allowed, name)
        ftype = data["file_type"]
        kwargs["file_type"] = (
            file_type_by_id(_check(ftype, (int,), "file_type")) if ftype is not None else None
        )
        raw_types = data["tensor_types"]
        if not isinstance(raw_types, dict):
            raise ValueError("tensor_types")
        kwargs["tensor_types"] = {
            _check(k, (str,), "tensor type"): TensorTypeStats(*_ints(v, 3, "tensor_types"))
            for k, v in raw_types.items()
        }
        raw_tensors = data["tensors"]
        if not isinstance(raw_tensors, list):
            raise ValueError("tensors")
        tensors = []
        for row in raw_tensors:
            if not isinstance(row, list) or len(row) != 4:
                raise ValueError("tensor row")
            name, tname = _check(row[0], (str,), "tensor"), _check(row[1], (str,), "tensor")
            tensors.append((name, tname, *_ints(row[2:], 2, "tensor")))
        kwargs["tensors"] = tuple(tensors)
        per_layer = data["n_head_kv_per_layer"]
        kwargs["n_head_kv_per_layer"] = (
            tuple(_ints(per_layer, None, "n_head_kv_per_layer")) if per_layer is not None else None
        )
        kwargs["swa"] = _decode_swa(data["swa"])
    except KeyError as exc:
        raise ValueError(f"missing {exc}") from exc
    return ModelFacts(**kwargs)


def _decode_swa(raw: Any) -> SlidingWindow | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("layers"), list):
        raise ValueError("swa")
    layers = tuple(_check(v, (bool,), "swa layer") for v in raw["layers"])
    return SlidingWindow(_check(raw.get("window"), (int,), "swa window"), layers)
