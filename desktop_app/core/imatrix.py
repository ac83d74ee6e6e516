"""Importance matrices (llama-imatrix's GGUF format) for the quantizer.

An imatrix file holds, for each weight tensor ``X``, ``X.in_sum2`` (sums of squared activations,
one row of ``ne0`` values per expert) and ``X.counts`` (how many tokens each row saw). The
quantizer wants ``in_sum2 / counts`` per row, as llama-quantize computes it. Only the GGUF
format is read; the legacy ``.dat`` format is refused. The file is untrusted input like any
GGUF: its header goes through ``read_gguf_header`` before any data is read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.gguf_file import GGUFError, GGUFHeader, TensorInfo, read_gguf_header
from desktop_app.core.quantize_errors import ImatrixError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_SUMS = ".in_sum2"
_COUNTS = ".counts"
_F32 = 0


def _pairs(header: GGUFHeader, path: Path) -> dict[str, tuple[TensorInfo, TensorInfo]]:
    by_name = {t.name: t for t in header.tensors}
    pairs: dict[str, tuple[TensorInfo, TensorInfo]] = {}
    for name, sums in by_name.items():
        if not name.endswith(_SUMS):
            continue
        base = name.removesuffix(_SUMS)
        counts = by_name.get(base + _COUNTS)
        if counts is None:
            raise ImatrixError("missing_counts", f"{base} has no counts", path=path)
        if sums.ggml_type != _F32 or counts.ggml_type != _F32:
            raise ImatrixError("bad_type", f"{base} is not F32", path=path)
        if counts.n_elements == 0 or sums.n_elements % counts.n_elements != 0:
            raise ImatrixError("bad_shape", f"{base}: sums do not match counts", path=path)
        pairs[base] = (sums, counts)
    if not pairs:
        raise ImatrixError("empty", "no importance data in the file", path=path)
    return pairs


def check_imatrix(path: str | os.PathLike[str]) -> int:
    """Validate an imatrix file's header; return how many tensors it covers."""
    p = Path(path)
    try:
        header = read_gguf_header(p)
    except GGUFError as exc:
        if exc.problem in ("bad_magic", "old_format"):
            raise ImatrixError("not_gguf", "only GGUF imatrix files are supported", path=p) from exc
        raise
    return len(_pairs(header, p))


def load_imatrix(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[np.float32]]:
    """Tensor name -> the per-column importance values llama_model_quantize expects."""
    import numpy as np

    p = Path(path)
    header = read_gguf_header(p)
    result: dict[str, npt.NDArray[np.float32]] = {}
    with open(p, "rb") as f:

        def read(t: TensorInfo) -> npt.NDArray[np.float32]:
            f.seek(header.data_offset + t.offset)
            data = np.frombuffer(f.read(t.n_bytes), dtype="<f4", count=t.n_elements)
            if len(data) != t.n_elements:
                raise ImatrixError("truncated", t.name, path=p)
            return data.astype(np.float32)

        for base, (sums_info, counts_info) in _pairs(header, p).items():
            sums, counts = read(sums_info), read(counts_info)
            rows = sums.reshape(len(counts), -1)
            scale = np.where(counts > 0, counts, 1.0).astype(np.float32)[:, None]
            values = np.where(counts[:, None] > 0, rows / scale, 1.0).astype(np.float32)
            if not np.all(np.isfinite(values)):
                raise ImatrixError("not_finite", f"{base} has NaN or infinite values", path=p)
            result[base] = np.ascontiguousarray(values.reshape(-1))
    return result
