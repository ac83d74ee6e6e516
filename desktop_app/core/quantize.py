"""Quantize a GGUF file to another llama.cpp file type with llama_model_quantize.

This is the in-process primitive. llama.cpp has no progress or cancel hook for quantization, so
progress comes from its per-tensor log lines (``[  17/ 290] blk.1.attn_v.weight ...``).
``quantize_job.QuantizeJob`` runs ``run_llama_quantize`` in a worker process it can kill, with
the checks a user-facing job needs; ``quantize_gguf`` is the bare in-process form for tests,
benchmarks and developer tools, trusting its input. Its output is written to a temporary name
in the target folder and renamed when complete: a failed run leaves nothing at the destination
(llama.cpp itself leaves a partial file behind).
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from desktop_app.core import llama_backend
from desktop_app.core.errors import QuantizeError
from desktop_app.core.quant_types import file_type_by_label
from desktop_app.core.quantize_errors import NotEnoughDiskError

PROGRESS_RE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]\s*(\S*)")

# A failed call with less free space than this at the output is reported as a full disk.
LOW_DISK_BYTES = 16 * 1024 * 1024

ProgressCallback = Callable[[int, int], None]
# (python log level, line) for every native log line the quantize call emits.
LineCallback = Callable[[int, str], None]


def run_llama_quantize(
    source: Path,
    output: Path,
    ftype: int,
    *,
    threads: int = 0,
    allow_requantize: bool = False,
    imatrix: Mapping[str, Any] | None = None,
    on_line: LineCallback | None = None,
) -> None:
    """One llama_model_quantize call writing ``output`` (deleted again if the call fails).

    ``imatrix`` maps tensor names to float32 numpy arrays (see ``imatrix.load_imatrix``).
    Raises QuantizeError with llama.cpp's last error line as ``reason``, NotEnoughDiskError
    when the output's disk is (nearly) full after the failure.
    """
    lcpp = llama_backend.bindings()
    errors: list[str] = []
    this_thread = threading.get_ident()

    def listen(level: int, line: str) -> None:
        # The log callback is process-wide; only this call's thread belongs to this job.
        if threading.get_ident() != this_thread:
            return
        if level >= logging.ERROR:
            errors.append(line.strip())
        if on_line is not None:
            on_line(level, line)

    params = lcpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = allow_requantize
    keep_alive: list[Any] = []
    if imatrix:
        params.imatrix = _imatrix_array(lcpp, imatrix, keep_alive)
    llama_backend.add_log_listener(listen)
    try:
        rc = lcpp.llama_model_quantize(
            str(source).encode(), str(output).encode(), ctypes.byref(params)
        )
    finally:
        llama_backend.remove_log_listener(listen)
        del keep_alive
    if rc != 0:
        # llama.cpp reports a failed write only as an iostream error: look at the disk before
        # the partial file is deleted (which frees the space again).
        free = _free_bytes(output.parent)
        output.unlink(missing_ok=True)
        reason = errors[-1] if errors else ""
        if free is not None and free < LOW_DISK_BYTES:
            raise NotEnoughDiskError(0, free, path=output.parent)
        raise QuantizeError(f"llama_model_quantize returned {rc}", path=source, reason=reason)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _imatrix_array(lcpp: Any, imatrix: Mapping[str, Any], keep_alive: list[Any]) -> Any:
    """A NULL-terminated ``llama_model_imatrix_data[]``; ``keep_alive`` holds what it points to."""
    entry_type = lcpp.llama_model_imatrix_data
    entries = (entry_type * (len(imatrix) + 1))()
    for i, (name, values) in enumerate(imatrix.items()):
        encoded = name.encode()
        keep_alive.extend((encoded, values))
        entries[i].name = encoded
        entries[i].data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        entries[i].size = int(values.size)
    keep_alive.append(entries)
    return ctypes.cast(entries, ctypes.POINTER(entry_type))


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

    def on_line(_level: int, line: str) -> None:
        if on_progress is not None:
            match = PROGRESS_RE.search(line)
            if match:
                on_progress(int(match.group(1)), int(match.group(2)))

    run_llama_quantize(
        src,
        tmp,
        file_type.ftype,
        threads=threads,
        allow_requantize=allow_requantize,
        on_line=on_line,
    )
    os.replace(tmp, dst)
    return dst
