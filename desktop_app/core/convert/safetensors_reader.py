"""Validate and read safetensors files without the safetensors package (numpy only).

Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data area.
The JSON maps tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets
relative to the data area) plus an optional ``"__metadata__"`` map of strings.

Everything is untrusted (../shared/reference/hardening.md): the header is capped at 100 MB and
read only after that check; every tensor's bytes must lie inside the file, match its shape and
dtype, and not overlap another tensor's; like the reference implementation, the data area must
be covered exactly (no holes, no trailing bytes). Only float dtypes are accepted. Tensors are
memory-mapped one at a time and read in row chunks, so memory stays near one chunk.

A sharded model has ``model.safetensors.index.json`` (``{"weight_map": {tensor: shard}}``):
every shard must be a plain file name in the same folder and every tensor must be found in
exactly the shard the index names, once.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop_app.core.convert.errors import ConvertError, os_error

HEADER_CAP = 100 * 1024 * 1024
INDEX_CAP = 100 * 1024 * 1024
INDEX_NAME = "model.safetensors.index.json"
MAX_DIMS = 8

# Accepted dtypes and how the raw bytes are viewed (numpy has no bfloat16: BF16 is read as u16).
_NP_DTYPES: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
}
# Other dtypes the format defines: refused with unsupported_dtype, but sized for the checks.
_OTHER_DTYPE_SIZES = {
    "F64": 8,
    "I64": 8,
    "U64": 8,
    "I32": 4,
    "U32": 4,
    "I16": 2,
    "U16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a validated file: where its bytes are and how to read them."""

    name: str
    dtype: str  # "F32", "F16" or "BF16"
    shape: tuple[int, ...]
    path: Path
    offset: int  # absolute byte offset in the file
    nbytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class SafetensorsFile:
    path: Path
    size: int
    mtime_ns: int
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]


@dataclass(frozen=True)
class WeightSet:
    """All tensors of a model (one file or every shard) and the files they come from."""

    files: tuple[SafetensorsFile, ...]
    tensors: dict[str, TensorEntry]

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values())


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_safetensors_header(path: str | os.PathLike[str]) -> SafetensorsFile:
    """Parse and validate one file's header; no tensor data is read."""
    p = Path(path)
    try:
        with open(p, "rb") as fp:
            st = os.fstat(fp.fileno())
            size = st.st_size
            prefix = fp.read(8)
            if len(prefix) < 8:
                raise ConvertError("truncated", "shorter than the 8-byte header length", path=p)
            (n,) = struct.unpack("<Q", prefix)
            if n > HEADER_CAP:
                raise ConvertError("header_too_large", f"header {n} bytes", path=p, actual=(n,))
            if n > size - 8:
                raise ConvertError("truncated", f"header {n} bytes, file {size}", path=p)
            raw = fp.read(n)
    except OSError as exc:
        raise os_error(exc, p) from exc
    if len(raw) != n:
        raise ConvertError("truncated", "file shrank while reading the header", path=p)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConvertError("bad_header", f"not JSON: {exc}", path=p) from exc
    if not isinstance(header, dict):
        raise ConvertError("bad_header", "header is not a JSON object", path=p)
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ConvertError("bad_header", "__metadata__ is not a map of strings", path=p)
    data_start = 8 + n
    tensors = _parse_tensors(p, header, data_start, size - data_start)
    return SafetensorsFile(p, size, st.st_mtime_ns, tensors, dict(metadata))


def _parse_tensors(
    path: Path, header: dict[str, Any], data_start: int, data_len: int
) -> dict[str, TensorEntry]:
    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, TensorEntry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not name or not isinstance(info, dict):
            raise ConvertError(
                "bad_header", "tensor entry is not an object", path=path, tensor=name
            )
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str):
            raise ConvertError("bad_header", "dtype missing", path=path, tensor=name)
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or not all(_is_int(d) and d >= 0 for d in shape)
        ):
            raise ConvertError("bad_header", "invalid shape", path=path, tensor=name)
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise ConvertError("bad_header", "invalid data_offsets", path=path, tensor=name)
        begin, end = int(offsets[0]), int(offsets[1])
        if dtype in _NP_DTYPES:
            itemsize = _NP_DTYPES[dtype].itemsize
        elif dtype in _OTHER_DTYPE_SIZES:
            raise ConvertError(
                "unsupported_dtype", f"dtype {dtype}", path=path, tensor=name, dtype=dtype
            )
        else:
            raise ConvertError(
                "unsupported_dtype",
                f"unknown dtype {dtype!r}",
                path=path,
                tensor=name,
                dtype=dtype[:32],
            )
        n_elem = 1
        for d in shape:
            n_elem *= d
        if n_elem * itemsize != end - begin:
            raise ConvertError(
                "bad_tensor_size",
                f"{end - begin} bytes for shape {shape} {dtype}",
                path=path,
                tensor=name,
            )
        if end > data_len:
            raise ConvertError(
                "truncated", f"data ends at {end}, data area is {data_len}", path=path, tensor=name
            )
        spans.append((begin, end, name))
        tensors[name] = TensorEntry(
            name, dtype, tuple(shape), path, data_start + begin, end - begin
        )
    _check_coverage(path, spans, data_len)
    return tensors


def _check_coverage(path: Path, spans: list[tuple[int, int, str]], data_len: int) -> None:
    position = 0
    for begin, end, name in sorted(spans):
        if begin == end:
            continue  # empty tensors occupy nothing
        if begin < position:
            raise ConvertError("overlapping_offsets", f"at byte {begin}", path=path, tensor=name)
        if begin > position:
            raise ConvertError("unused_data", f"hole at {position}..{begin}", path=path)
        position = end
    if position != data_len:
        raise ConvertError("unused_data", f"{data_len - position} trailing bytes", path=path)


def load_weight_set(folder: Path, files: list[Path] | None = None) -> WeightSet:
    """Read the index (if any) and validate every shard's header."""
    index = folder / INDEX_NAME
    if files is None:
        files = find_weight_files(folder)
    weight_map: dict[str, str] | None = None
    if index.is_file():
        weight_map = _read_index(index)
    parsed = [read_safetensors_header(f) for f in files]
    tensors: dict[str, TensorEntry] = {}
    for shard in parsed:
        for name, entry in shard.tensors.items():
            if name in tensors:
                raise ConvertError(
                    "duplicate_tensor",
                    f"also in {tensors[name].path.name}",
                    path=shard.path,
                    tensor=name,
                )
            tensors[name] = entry
    if weight_map is not None:
        for name, shard_name in weight_map.items():
            found = tensors.get(name)
            if found is None or found.path.name != shard_name:
                raise ConvertError(
                    "index_mismatch", f"index says {shard_name}", path=index, tensor=name
                )
        for name in tensors:
            if name not in weight_map:
                raise ConvertError("index_mismatch", "not in the index", path=index, tensor=name)
    return WeightSet(tuple(parsed), tensors)


def find_weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a model folder, in shard order."""
    index = folder / INDEX_NAME
    if index.is_file():
        weight_map = _read_index(index)
        names = sorted(set(weight_map.values()))
        missing = tuple(n for n in names if not (folder / n).is_file())
        if missing:
            raise ConvertError("missing_shard", ", ".join(missing), path=folder, files=missing)
        return [folder / n for n in names]
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    found = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    if len(found) > 1:
        raise ConvertError("missing_index", f"{len(found)} safetensors files", path=folder)
    return found


def _read_index(index: Path) -> dict[str, str]:
    try:
        if index.stat().st_size > INDEX_CAP:
            raise ConvertError("bad_index", "index file over the size cap", path=index)
        data = json.loads(index.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except OSError as exc:
        raise os_error(exc, index) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConvertError("bad_index", f"not JSON: {exc}", path=index) from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ConvertError("bad_index", "no weight_map", path=index)
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not _is_plain_name(shard):
            raise ConvertError("bad_index", f"unsafe shard name {shard!r}", path=index, tensor=name)
    return dict(weight_map)


def _is_plain_name(name: str) -> bool:
    return (
        name.endswith(".safetensors")
        and name not in (".", "..")
        and not any(c in name for c in "/\\:\x00")
        and not name.startswith(".")
    )


def open_tensor(
    entry: TensorEntry, first_row: int = 0, n_rows: int | None = None
) -> npt.NDArray[Any]:
    """Rows of the tensor as a read-only memory map, shape (rows, last axis); BF16 as uint16.

    Only the requested rows are mapped, so the pages a chunk touches are unmapped with it.
    """
    dtype = _NP_DTYPES[entry.dtype]
    cols = entry.shape[-1] if entry.shape else 1
    total_rows = entry.n_elements // cols if cols else 0
    count = total_rows - first_row if n_rows is None else n_rows
    if count * cols == 0:
        return np.zeros((count, cols), dtype=dtype)
    offset = entry.offset + first_row * cols * dtype.itemsize
    try:
        return np.memmap(entry.path, dtype=dtype, mode="r", offset=offset, shape=(count, cols))
    except OSError as exc:
        raise os_error(exc, entry.path) from exc
    except ValueError as exc:  # the file shrank since its header was read
        raise ConvertError("truncated", str(exc), path=entry.path, tensor=entry.name) from exc


def to_float32(raw: npt.NDArray[Any], dtype: str) -> npt.NDArray[np.float32]:
    """Values of a raw chunk (a private copy, as iter_row_chunks yields) as float32."""
    if dtype == "BF16":
        return (raw.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return np.asarray(raw, dtype=np.float32)


def iter_row_chunks(
    entry: TensorEntry, step: int, rows: npt.NDArray[np.intp] | None = None
) -> Iterator[npt.NDArray[Any]]:
    """Private copies of ``step`` rows at a time (the last axis is a row).

    In file order each chunk maps only its own rows; with ``rows`` (a new order, used for the
    small q/k matrices) the whole tensor is mapped once.
    """
    cols = entry.shape[-1] if entry.shape else 1
    n_rows = entry.n_elements // cols if cols else 0
    if rows is None:
        for start in range(0, n_rows, step):
            part = open_tensor(entry, start, min(step, n_rows - start))
            yield np.array(part)
            del part
        return
    data = open_tensor(entry)
    try:
        for start in range(0, n_rows, step):
            yield data[rows[start : start + step]]
    finally:
        del data
