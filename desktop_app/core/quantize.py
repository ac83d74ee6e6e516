"""Quantize a GGUF file to another llama.cpp file type with llama_model_quantize.

This is the in-process primitive. llama.cpp has no progress or cancel hook for quantization, so
progress comes from its per-tensor log lines (``[  17/ 290] blk.1.attn_v.weight ...``) and the
app runs this function in a worker process it can kill (the convert/quantize issue adds that).
The output is written to a temporary name in the target folder and renamed when complete: a
failed run leaves nothing at the destination (llama.cpp itself leaves a partial file behind).
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from desktop_app.core import llama_backend
from desktop_app.core.errors import QuantizeError
from desktop_app.core.quant_types import file_type_by_label

_PROGRESS = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")

ProgressCallback = Callable[[int, int], None]


def quantize_gguf(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    label: str,
    *,
    threads: int = 0,
    allow_requantize: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """Quantize ``source`` into ``destination`` as file type ``label`` (e.g. "Q4_K_M").

    Raises QuantizeError with llama.cpp's last error line as ``reason``.
    """
    file_type = file_type_by_label(label)
    if file_type is None:
        raise QuantizeError(f"unknown file type {label!r}")
    src, dst = Path(source), Path(destination)
    tmp = dst.with_name(f".{dst.name}.partial")
    lcpp = llama_backend.llama()
    errors: list[str] = []
    this_thread = threading.get_ident()

    def listen(level: int, line: str) -> None:
        # The log callback is process-wide; only this call's thread belongs to this job.
        if threading.get_ident() != this_thread:
            return
        if level >= logging.ERROR:
            errors.append(line.strip())
        if on_progress is not None:
            match = _PROGRESS.search(line)
            if match:
                on_progress(int(match.group(1)), int(match.group(2)))

    params = lcpp.llama_model_quantize_default_params()
    params.ftype = file_type.ftype
    params.nthread = threads
    params.allow_requantize = allow_requantize
    llama_backend.add_log_listener(listen)
    try:
        rc = lcpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    finally:
        llama_backend.remove_log_listener(listen)
    if rc != 0:
        tmp.unlink(missing_ok=True)
        reason = errors[-1] if errors else ""
        raise QuantizeError(f"llama_model_quantize returned {rc}", path=src, reason=reason)
    os.replace(tmp, dst)
    return dst
