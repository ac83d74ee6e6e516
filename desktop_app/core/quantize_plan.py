"""What a quantization will produce and cost, from the source header alone (no llama.cpp).

* ``estimate_output_bytes``: per tensor, like llama.cpp decides it. Vectors (norms, biases) are
  copied unchanged; matrices take the file type's nominal bits per weight (``FILE_TYPES``,
  which already averages in the higher-precision embedding/output tensors of each mix), except
  where a K/IQ type needs rows that are a multiple of 256 and the tensor has none: llama.cpp
  then falls back to a legacy type (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1,
  Q6_K -> Q8_0, IQ -> IQ4_NL), and so does the estimate.
* ``estimate_seconds``: parameters times a throughput constant per type (family, where a type
  was not measured), measured on the development machine (2 cores, AVX-512, QuantizeJob, F16
  source in page cache: the 0.5B-shape benchmark model; see benchmarks/RESULTS.md), scaled by
  thread count. Other machines differ; the UI shows it as an approximation.
* ``quantized_source_type``: whether re-quantizing is involved (any matrix not F32/F16/BF16).
* ``supported_file_types``: every ``LLAMA_FTYPE_*`` constant of llama-cpp-python, joined with
  QuantDesk's table.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from desktop_app.core.gguf_file import GGUFHeader, ggml_type_name, read_gguf_header
from desktop_app.core.model_facts import facts_from_header
from desktop_app.core.quant_types import (
    FILE_TYPES,
    FileType,
    QuantFamily,
    file_type_by_id,
    file_type_by_label,
)
from desktop_app.core.quantize_errors import (
    FALLBACK_WARNING,
    REQUANTIZE_WARNING,
    DestinationError,
    NeedsImatrixError,
    NotEnoughDiskError,
    RequantizeRefusedError,
    UnknownFileTypeError,
    UnsupportedSourceError,
    UnsupportedTargetError,
)

MIB = 1024 * 1024

# File types llama_model_quantize refuses to write ("invalid output file type"): converters
# produce them, the quantizer cannot.
NOT_WRITABLE = frozenset({"NVFP4"})

FLOAT_TENSOR_TYPES = frozenset({"F32", "F16", "BF16"})

# Row length a file type's main tensor format needs, and the bpw llama.cpp falls back to when a
# matrix's rows are not a multiple of it (see the module docstring). Types absent: block 32.
_BLOCK_256_FALLBACK_BPW: dict[str, float] = {
    "Q2_K": 4.5,
    "Q2_K_S": 4.5,
    "Q3_K_S": 4.5,
    "Q3_K_M": 4.5,
    "Q3_K_L": 4.5,
    "Q4_K_S": 5.5,
    "Q4_K_M": 5.5,
    "Q5_K_S": 6.0,
    "Q5_K_M": 6.0,
    "Q6_K": 8.5,
    "TQ1_0": 16.0,
    "TQ2_0": 16.0,
}
_IQ_FALLBACK_BPW = 4.5  # IQ4_NL, a 32-block type

# Time model: seconds = STARTUP + Gparams * (compute * MEASURED_THREADS / threads + IO).
# ``compute`` is CPU seconds per thread per billion parameters, measured by
# ``benchmarks/quantize_speed.py --calibrate`` (QuantizeJob, 0.5B Llama shape, F16 source in
# page cache, 2 threads; table in benchmarks/RESULTS.md). CPU time rather than wall time because
# the development machine is shared: wall times there were inflated 1.5-3x by other jobs, CPU
# time per thread is not, and on an idle machine it matches the wall time of the compute-bound
# types (Q4_K_M: 30.6 s/Gparam here, 16 s per GB of F16 = 32 s/Gparam for llama-quantize on an
# idle machine, ../shared/reference/performance.md). ``IO`` covers reading the source, writing
# the output and its fsync: about 3 s/Gparam (Q8_0 takes 3.1 s wall for 0.5 Gparam idle
# against 3.2 s/Gparam of CPU per thread). Types not measured use their family's figure.
MEASURED_THREADS = 2
COMPUTE_SECONDS_PER_GPARAM_BY_FAMILY: dict[QuantFamily, float] = {
    QuantFamily.FLOAT: 2.0,
    QuantFamily.LEGACY: 3.0,
    QuantFamily.K: 25.0,
    QuantFamily.IQ: 160.0,
    QuantFamily.TERNARY: 6.0,
    QuantFamily.MX: 3.0,
    QuantFamily.OTHER: 6.0,
}
COMPUTE_SECONDS_PER_GPARAM_BY_LABEL: dict[str, float] = {
    "F16": 0.9,
    "BF16": 2.4,
    "Q8_0": 3.2,
    "Q6_K": 15.6,
    "Q5_K_M": 26.4,
    "Q5_K_S": 27.8,
    "Q4_K_M": 30.6,
    "Q4_K_S": 32.9,
    "Q3_K_L": 14.4,
    "Q3_K_M": 16.0,
    "Q3_K_S": 7.8,
    "Q2_K": 21.8,
    "IQ4_NL": 83.5,
    "IQ4_XS": 85.4,
    "IQ3_S": 161.6,
    "IQ3_M": 147.9,
}
IO_SECONDS_PER_GPARAM = 3.0
# Spawning the worker and importing llama.cpp's bindings into it.
STARTUP_SECONDS = 0.3
# Disk check: the estimate plus this fraction plus a fixed reserve must be free.
DISK_MARGIN_FRACTION = 0.10
DISK_MARGIN_BYTES = 64 * MIB


def _fallback_bpw(file_type: FileType) -> float | None:
    """The bpw a matrix gets when its rows do not suit the type's 256-blocks (None: no need)."""
    if file_type.label in _BLOCK_256_FALLBACK_BPW:
        return _BLOCK_256_FALLBACK_BPW[file_type.label]
    if file_type.family == QuantFamily.IQ and file_type.label != "IQ4_NL":
        return _IQ_FALLBACK_BPW
    return None


def estimate_output_bytes(header: GGUFHeader, file_type: FileType) -> int:
    """Expected size of the quantized file (metadata carried over plus every tensor)."""
    fallback = _fallback_bpw(file_type)
    total = header.data_offset
    for t in header.tensors:
        if len(t.shape) < 2 or not t.name.endswith("weight"):
            total += t.n_bytes  # copied as is
            continue
        bpw = file_type.bits_per_weight
        if fallback is not None and t.shape[0] % 256 != 0:
            bpw = max(bpw, fallback)
        total += int(t.n_elements * bpw / 8)
    return total


def fallback_tensor_count(header: GGUFHeader, file_type: FileType) -> int:
    """Matrices that will not get the type's own format (rows not a multiple of 256)."""
    if _fallback_bpw(file_type) is None:
        return 0
    return sum(
        1
        for t in header.tensors
        if len(t.shape) >= 2 and t.name.endswith("weight") and t.shape[0] % 256 != 0
    )


def disk_needed(output_bytes: int) -> int:
    return int(output_bytes * (1 + DISK_MARGIN_FRACTION)) + DISK_MARGIN_BYTES


def effective_threads(threads: int) -> int:
    """What llama.cpp uses for ``nthread``: <= 0 means every logical core."""
    cores = os.cpu_count() or 1
    return min(threads, cores) if threads > 0 else cores


def compute_seconds_per_gparam(file_type: FileType) -> float:
    by_label = COMPUTE_SECONDS_PER_GPARAM_BY_LABEL.get(file_type.label)
    if by_label is not None:
        return by_label
    return COMPUTE_SECONDS_PER_GPARAM_BY_FAMILY[file_type.family]


def estimate_seconds(parameter_count: int, file_type: FileType, threads: int = 0) -> float:
    """Rough wall time on an idle machine like the development one, start-up included."""
    scale = MEASURED_THREADS / effective_threads(threads)
    per_gparam = compute_seconds_per_gparam(file_type) * scale + IO_SECONDS_PER_GPARAM
    return STARTUP_SECONDS + parameter_count / 1e9 * per_gparam


def quantized_source_type(header: GGUFHeader) -> str | None:
    """The quantized tensor type of the source's matrices (e.g. "Q4_K"), None if all are
    float: quantizing from it would be re-quantizing."""
    counts: dict[str, int] = {}
    for t in header.tensors:
        name = ggml_type_name(t.ggml_type)
        if len(t.shape) >= 2 and name not in FLOAT_TENSOR_TYPES:
            counts[name] = counts.get(name, 0) + t.n_bytes
    return max(counts, key=lambda k: counts[k]) if counts else None


@dataclass(frozen=True)
class SupportedFileType:
    """One ``LLAMA_FTYPE_*`` constant of llama-cpp-python and what QuantDesk knows about it."""

    constant: str  # e.g. "LLAMA_FTYPE_MOSTLY_Q4_K_M"
    ftype: int
    label: str
    file_type: FileType | None  # None: a type QuantDesk's table does not describe yet
    needs_imatrix: bool
    writable: bool  # llama_model_quantize can produce it


def supported_file_types() -> list[SupportedFileType]:
    """Every file type llama.cpp defines (from llama-cpp-python's constants), best first.

    Imports llama_cpp (loads the native library).
    """
    from desktop_app.core import llama_backend

    lcpp = llama_backend.llama()
    rows: list[SupportedFileType] = []
    for constant in dir(lcpp):
        if not constant.startswith("LLAMA_FTYPE_") or constant == "LLAMA_FTYPE_GUESSED":
            continue
        ftype = int(getattr(lcpp, constant))
        known = file_type_by_id(ftype)
        label = known.label if known else constant.removeprefix("LLAMA_FTYPE_MOSTLY_")
        rows.append(
            SupportedFileType(
                constant=constant,
                ftype=ftype,
                label=label,
                file_type=known,
                needs_imatrix=known.needs_imatrix if known else False,
                writable=label not in NOT_WRITABLE,
            )
        )
    order = {ft.label: i for i, ft in enumerate(FILE_TYPES)}
    rows.sort(key=lambda r: (order.get(r.label, len(order)), r.ftype))
    return rows


@dataclass(frozen=True)
class QuantizePlan:
    """Everything checked and estimated before a quantization starts."""

    source: Path
    destination: Path
    file_type: FileType
    source_type: str  # the source's file type label ("F16", "Q4_K_M", "unknown")
    parameter_count: int
    tensor_count: int
    tensor_elements: Mapping[str, int]
    header_bytes: int
    source_size: int
    source_mtime_ns: int
    output_bytes: int  # estimated
    disk_needed: int
    disk_free: int
    seconds: float  # estimated
    threads: int
    requantize: bool
    fallback_tensors: int  # estimated: matrices that will not get the type's own format
    warnings: tuple[str, ...]


def check_target(label: str, imatrix: object | None) -> FileType:
    """The file type for ``label``, refusing unknown, unwritable and imatrix-only types."""
    file_type = file_type_by_label(label)
    if file_type is None:
        raise UnknownFileTypeError(label)
    if file_type.label in NOT_WRITABLE:
        raise UnsupportedTargetError(file_type.label)
    if file_type.needs_imatrix and imatrix is None:
        raise NeedsImatrixError(file_type.label)
    return file_type


def check_destination(source: Path, destination: Path) -> None:
    """Refuse to overwrite anything, and folders that are missing or read-only."""
    with contextlib.suppress(OSError):
        if source.exists() and destination.resolve() == source.resolve():
            raise DestinationError("destination_is_source", path=destination)
    if destination.exists() or destination.is_symlink():
        raise DestinationError("destination_exists", path=destination)
    folder = destination.parent
    if not folder.is_dir():
        raise DestinationError("destination_folder_missing", path=folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DestinationError("destination_not_writable", path=folder)


def plan_quantize(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    label: str,
    *,
    threads: int = 0,
    allow_requantize: bool = False,
    imatrix: str | os.PathLike[str] | None = None,
    header: GGUFHeader | None = None,
) -> QuantizePlan:
    """Check a quantization without running it; raises the typed errors of quantize_errors
    (and GGUFError / FileAccessError for an invalid source). ``header``: already read."""
    from desktop_app.core import hardware
    from desktop_app.core.imatrix import check_imatrix

    file_type = check_target(label, imatrix)
    src = Path(source).absolute()
    if header is None:
        header = read_gguf_header(src)
    facts = facts_from_header(header, str(src))
    if facts.split_count > 1:
        raise UnsupportedSourceError("split GGUF files are not supported as a source", path=src)
    warnings: list[str] = []
    quantized = quantized_source_type(header)
    if quantized is not None:
        if not allow_requantize:
            raise RequantizeRefusedError(facts.quant_label, path=src)
        warnings.append(REQUANTIZE_WARNING)
    if imatrix is not None:
        check_imatrix(imatrix)
    dst = Path(destination).absolute()
    check_destination(src, dst)
    output_bytes = estimate_output_bytes(header, file_type)
    fallbacks = fallback_tensor_count(header, file_type)
    if fallbacks:
        warnings.append(FALLBACK_WARNING)
    needed = disk_needed(output_bytes)
    free, _total = hardware.disk_space(dst.parent)
    if free < needed:
        raise NotEnoughDiskError(needed, free, path=dst.parent)
    st = os.stat(src)
    return QuantizePlan(
        source=src,
        destination=dst,
        file_type=file_type,
        source_type=facts.quant_label,
        parameter_count=facts.parameter_count,
        tensor_count=len(header.tensors),
        tensor_elements=MappingProxyType({t.name: t.n_elements for t in header.tensors}),
        header_bytes=header.data_offset,
        source_size=st.st_size,
        source_mtime_ns=st.st_mtime_ns,
        output_bytes=output_bytes,
        disk_needed=needed,
        disk_free=free,
        seconds=estimate_seconds(facts.parameter_count, file_type, threads),
        threads=threads,
        requantize=quantized is not None,
        fallback_tensors=fallbacks,
        warnings=tuple(warnings),
    )
