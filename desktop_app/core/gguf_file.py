"""Read and validate a GGUF header without touching tensor data.

GGUF files come from the internet, so the header is hostile input: a damaged or crafted file must
end in a typed ``GGUFError``, never in a ``MemoryError``, a hang, or a stray ``struct.error``.
Every count and length is therefore checked against the bytes the file still has *before* anything
is allocated or looped over, and big arrays (tokenizer vocabularies) are walked, not decoded.

``parse_gguf_header`` works on any prefix of a file and raises ``NeedMoreData`` when the prefix is
too short, so the same code can read remote headers with HTTP Range requests.

Stdlib only: this module must stay importable without numpy, gguf-py or Qt.
"""

from __future__ import annotations

import enum
import itertools
import mmap
import os
import stat
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, NoReturn, TypeAlias

from desktop_app.core.errors import FileAccessError, QuantDeskError

__all__ = [
    "GGML_TYPE_SIZES",
    "ArraySummary",
    "GGUFError",
    "GGUFHeader",
    "GGUFProblem",
    "GGUFValueType",
    "NeedMoreData",
    "TensorInfo",
    "ggml_type_name",
    "parse_gguf_header",
    "read_gguf_header",
]


class GGUFProblem(enum.StrEnum):
    EMPTY = "empty"
    BAD_MAGIC = "bad_magic"
    OLD_FORMAT = "old_format"
    UNSUPPORTED_VERSION = "unsupported_version"
    WRONG_ENDIANNESS = "wrong_endianness"
    TRUNCATED = "truncated"
    TOO_MANY_TENSORS = "too_many_tensors"
    TOO_MANY_KV = "too_many_kv"
    BAD_KEY = "bad_key"
    DUPLICATE_KEY = "duplicate_key"
    BAD_VALUE_TYPE = "bad_value_type"
    STRING_TOO_LONG = "string_too_long"
    ARRAY_TOO_LONG = "array_too_long"
    NESTED_ARRAY = "nested_array"
    BAD_UTF8 = "bad_utf8"
    BAD_ALIGNMENT = "bad_alignment"
    BAD_TENSOR_NAME = "bad_tensor_name"
    DUPLICATE_TENSOR = "duplicate_tensor"
    BAD_DIMS = "bad_dims"
    UNKNOWN_TENSOR_TYPE = "unknown_tensor_type"
    BAD_SHAPE = "bad_shape"
    SIZE_OVERFLOW = "size_overflow"
    MISALIGNED_OFFSET = "misaligned_offset"
    OVERLAPPING_TENSORS = "overlapping_tensors"
    DATA_PAST_EOF = "data_past_eof"


class GGUFValueType(enum.IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


class GGUFError(QuantDeskError):
    """The file is not a valid GGUF file; ``problem`` says why, ``offset`` where (in bytes)."""

    code = "invalid_gguf"

    def __init__(
        self,
        problem: GGUFProblem,
        detail: str = "",
        *,
        path: Path | str | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(detail, path=path)
        self.problem = problem
        self.offset = offset

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at byte {self.offset}"
        return f"{self.problem.value}{where}: {self.detail}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes would be lost by the default Exception pickling, and errors
        # may cross a process boundary when headers are scanned in a worker.
        state = {"path": self.path, "offset": self.offset}
        return (type(self), (self.problem, self.detail), state)


class NeedMoreData(Exception):
    """The buffer given to ``parse_gguf_header`` ends too early; read ``needed`` bytes in total."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


@dataclass(frozen=True)
class ArraySummary:
    """Stands in for a metadata array too big to decode (vocabularies, merges, scores)."""

    element_type: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ne order, as stored in the file (fastest-varying dimension first)
    ggml_type: int
    offset: int  # relative to the start of the data section
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    alignment: int
    data_offset: int  # absolute offset of the data section
    file_size: int
    metadata: Mapping[str, Any]
    tensors: tuple[TensorInfo, ...]

    @property
    def header_bytes(self) -> int:
        return self.data_offset

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)


# type id -> (name, block size in elements, bytes per block), as ggml's type traits give them for
# the llama.cpp that llama-cpp-python 0.3.36 bundles. Ids missing here (4 and 5 were the retired
# Q4_2/Q4_3; 31-33 and 36-38 were removed repacked layouts) are rejected as unknown.
GGML_TYPE_SIZES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}


def ggml_type_name(t: int) -> str:
    """``"Q4_K"`` for 12; unknown ids get a stable placeholder rather than an exception."""
    entry = GGML_TYPE_SIZES.get(t)
    return entry[0] if entry is not None else f"UNKNOWN_{t}"


_MAGIC = b"GGUF"
# Pre-GGUF files wrote their magic as a little-endian u32, so on disk 'ggjt' reads "tjgg".
_OLD_MAGICS = (b"GGML", b"GGJT", b"GGMF", b"lmgg", b"tjgg", b"fmgg")
_SUPPORTED_VERSIONS = (2, 3)  # v1 used 32-bit counts; v2 and v3 share this layout

_MAX_KEY_LEN = 65535
_MAX_TENSOR_NAME_LEN = 63  # GGML_MAX_NAME is 64 including the terminating NUL
_MAX_STRING_LEN = 16 * 1024 * 1024
_MAX_ALIGNMENT = 1024 * 1024
_DEFAULT_ALIGNMENT = 32
_MAX_DIMS = 4
_MAX_ELEMENTS = 2**62
_SMALL_ARRAY = 1024  # arrays up to this length are decoded; longer ones become ArraySummary
_FIXED_HEADER_LEN = 24  # magic, version, n_tensors, n_kv
# Smallest encodings the grammar allows (before semantic checks), used to bound claimed counts:
# KV = key length + type + 1-byte value; tensor info = name length + n_dims + type + offset.
_MIN_KV_LEN = 8 + 4 + 1
_MIN_TENSOR_INFO_LEN = 8 + 4 + 4 + 8
_MIN_READ_AHEAD = 64 * 1024  # NeedMoreData never asks for a tiny step: each step is a round trip

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# value type -> struct format character of a scalar (STRING and ARRAY are variable-sized)
_SCALAR_FORMATS: dict[int, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
_SCALARS: dict[int, struct.Struct] = {t: struct.Struct("<" + f) for t, f in _SCALAR_FORMATS.items()}

_Buffer: TypeAlias = bytes | memoryview | mmap.mmap


class _Parser:
    """A cursor over the first ``limit`` bytes of a file of ``size`` bytes."""

    def __init__(self, buf: _Buffer, size: int, path: Path | None) -> None:
        self.buf = buf
        self.size = size
        self.limit = min(len(buf), size)
        self.path = path
        self.pos = 0

    def fail(self, problem: GGUFProblem, detail: str, at: int | None = None) -> NoReturn:
        raise GGUFError(problem, detail, path=self.path, offset=self.pos if at is None else at)

    def short(self, end: int, hint: int = 0) -> NoReturn:
        """Byte ``end`` is not in the buffer: the file is truncated, or the caller must read on."""
        if end > self.size:
            self.fail(GGUFProblem.TRUNCATED, f"needs {end} bytes, file has {self.size}")
        # Ask generously (at least double) so a remote reader needs only a few round trips.
        want = max(end, hint, 2 * self.limit, self.limit + _MIN_READ_AHEAD)
        raise NeedMoreData(min(want, self.size))

    def take(self, n: int) -> int:
        """Advance over ``n`` bytes that must be present; return where they start."""
        start = self.pos
        end = start + n
        if end > self.limit:
            self.short(end)
        self.pos = end
        return start

    def u32(self) -> int:
        value: int = _U32.unpack_from(self.buf, self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack_from(self.buf, self.take(8))[0]
        return value

    def name(self, max_len: int, problem: GGUFProblem, what: str) -> str:
        """A key or tensor name: bounded, non-empty, strict UTF-8."""
        at = self.pos
        n = self.u64()
        if n == 0 or n > max_len:
            self.fail(problem, f"{what} length {n} not in 1..{max_len}", at)
        start = self.take(n)
        try:
            return str(self.buf[start : start + n], "utf-8")
        except UnicodeDecodeError as exc:
            self.fail(GGUFProblem.BAD_UTF8, f"{what}: {exc.reason}", start + exc.start)

    def string(self) -> str:
        at = self.pos
        n = self.u64()
        if n > _MAX_STRING_LEN:
            self.fail(GGUFProblem.STRING_TOO_LONG, f"string length {n} > {_MAX_STRING_LEN}", at)
        start = self.take(n)
        # Metadata text is shown, never trusted as an identifier: tolerate bad bytes.
        return str(self.buf[start : start + n], "utf-8", "replace")

    def value(self, vtype: int) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            return self.array()
        scalar = _SCALARS[vtype]
        return scalar.unpack_from(self.buf, self.take(scalar.size))[0]

    def array(self) -> tuple[Any, ...] | ArraySummary:
        at = self.pos
        etype = self.u32()
        if etype == GGUFValueType.ARRAY:
            self.fail(GGUFProblem.NESTED_ARRAY, "array of arrays", at)
        if etype not in _SCALARS and etype != GGUFValueType.STRING:
            self.fail(GGUFProblem.BAD_VALUE_TYPE, f"array element type {etype}", at)
        count_at = self.pos
        count = self.u64()
        # An empty string still costs its 8-byte length, so this bounds string arrays too.
        min_size = 8 if etype == GGUFValueType.STRING else _SCALARS[etype].size
        if count * min_size > self.size - self.pos:
            self.fail(
                GGUFProblem.ARRAY_TOO_LONG,
                f"{count} elements of type {etype} need >= {count * min_size} bytes, "
                f"{self.size - self.pos} remain",
                count_at,
            )
        if etype == GGUFValueType.STRING:
            if count <= _SMALL_ARRAY:
                return tuple(self.string() for _ in range(count))
            self.skip_strings(count)
            return ArraySummary(etype, count)
        start = self.take(count * min_size)
        if count <= _SMALL_ARRAY:
            fmt = f"<{count}{_SCALAR_FORMATS[etype]}"
            return struct.unpack_from(fmt, self.buf, start)
        return ArraySummary(etype, count)

    def skip_strings(self, count: int) -> None:
        """Walk ``count`` strings checking each length; the hot loop of big vocabularies."""
        buf, limit, unpack = self.buf, self.limit, _U64.unpack_from
        first = p = self.pos
        for i in range(count):
            if p + 8 > limit:
                self.pos = p
                self.short(p + 8, self._extrapolate(first, p, i, count))
            n: int = unpack(buf, p)[0]
            if n > _MAX_STRING_LEN:
                self.fail(GGUFProblem.STRING_TOO_LONG, f"string length {n} in array", p)
            p += 8 + n
            if p > limit:
                self.pos = p - n
                self.short(p, self._extrapolate(first, p, i + 1, count))
        self.pos = p

    @staticmethod
    def _extrapolate(first: int, p: int, done: int, count: int) -> int:
        # Guess where the array ends from the average element size so far, plus 25 %.
        avg = max((p - first) // max(done, 1), 9)
        return p + (count - done) * avg * 5 // 4


def _tensor_info(p: _Parser, alignment: int, check_data: bool, seen: set[str]) -> TensorInfo:
    at = p.pos
    name = p.name(_MAX_TENSOR_NAME_LEN, GGUFProblem.BAD_TENSOR_NAME, "tensor name")
    if name in seen:
        p.fail(GGUFProblem.DUPLICATE_TENSOR, f"tensor {name!r} appears twice", at)
    seen.add(name)
    dims_at = p.pos
    n_dims = p.u32()
    if not 1 <= n_dims <= _MAX_DIMS:
        p.fail(GGUFProblem.BAD_DIMS, f"{name}: n_dims {n_dims}", dims_at)
    shape: tuple[int, ...] = struct.unpack_from(f"<{n_dims}Q", p.buf, p.take(8 * n_dims))
    # ggml stores ne as int64: a value >= 2**63 is negative there.
    if any(ne == 0 or ne >= 2**63 for ne in shape):
        p.fail(GGUFProblem.BAD_DIMS, f"{name}: shape {shape}", dims_at)
    type_at = p.pos
    ggml_type = p.u32()
    entry = GGML_TYPE_SIZES.get(ggml_type)
    if entry is None:
        p.fail(GGUFProblem.UNKNOWN_TENSOR_TYPE, f"{name}: ggml type {ggml_type}", type_at)
    _, block, type_size = entry
    offset_at = p.pos
    offset = p.u64()

    if shape[0] % block:
        p.fail(GGUFProblem.BAD_SHAPE, f"{name}: ne[0]={shape[0]} % block {block}", dims_at)
    n_elements = 1
    for ne in shape:
        n_elements *= ne
        if n_elements > _MAX_ELEMENTS:  # checked per step so the product stays small
            p.fail(GGUFProblem.SIZE_OVERFLOW, f"{name}: shape {shape}", dims_at)
    n_bytes = n_elements // block * type_size
    if check_data and n_bytes > p.size:
        p.fail(GGUFProblem.DATA_PAST_EOF, f"{name}: {n_bytes} bytes > file size", dims_at)
    if offset % alignment:
        p.fail(GGUFProblem.MISALIGNED_OFFSET, f"{name}: offset {offset} % {alignment}", offset_at)
    return TensorInfo(name, shape, ggml_type, offset, n_elements, n_bytes)


def _parse(buf: _Buffer, file_size: int, check_data: bool, path: Path | None) -> GGUFHeader:
    if file_size < 0:
        raise ValueError(f"file_size must be >= 0, got {file_size}")
    if isinstance(buf, memoryview) and (buf.ndim != 1 or buf.itemsize != 1):
        buf = buf.cast("B")  # len() must count bytes
    p = _Parser(buf, file_size, path)
    if file_size == 0:
        p.fail(GGUFProblem.EMPTY, "0 bytes")

    head = bytes(buf[: min(4, p.limit)])
    if len(head) < 4:
        # Reject as early as possible: no need to fetch more of something that is not GGUF.
        if not any(m.startswith(head) for m in (_MAGIC, *_OLD_MAGICS)):
            p.fail(GGUFProblem.BAD_MAGIC, f"starts with {head!r}")
        p.short(4)
    if head in _OLD_MAGICS:
        p.fail(GGUFProblem.OLD_FORMAT, f"magic {head!r}")
    if head != _MAGIC:
        p.fail(GGUFProblem.BAD_MAGIC, f"magic {head!r}")
    p.pos = 4
    version = p.u32()
    if version not in _SUPPORTED_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        problem = (
            GGUFProblem.WRONG_ENDIANNESS
            if swapped in _SUPPORTED_VERSIONS
            else GGUFProblem.UNSUPPORTED_VERSION
        )
        p.fail(problem, f"version {version:#x}", 4)

    body = max(file_size - _FIXED_HEADER_LEN, 0)
    n_tensors = p.u64()
    if n_tensors * _MIN_TENSOR_INFO_LEN > body:
        p.fail(GGUFProblem.TOO_MANY_TENSORS, f"n_tensors {n_tensors} in {file_size} bytes", 8)
    n_kv = p.u64()
    if n_kv * _MIN_KV_LEN > body:
        p.fail(GGUFProblem.TOO_MANY_KV, f"n_kv {n_kv} in {file_size} bytes", 16)

    metadata: dict[str, Any] = {}
    alignment = _DEFAULT_ALIGNMENT
    for _ in range(n_kv):
        kv_at = p.pos
        key = p.name(_MAX_KEY_LEN, GGUFProblem.BAD_KEY, "key")
        if key in metadata:
            p.fail(GGUFProblem.DUPLICATE_KEY, f"key {key!r}", kv_at)
        type_at = p.pos
        vtype = p.u32()
        if vtype not in _SCALARS and vtype not in (GGUFValueType.STRING, GGUFValueType.ARRAY):
            p.fail(GGUFProblem.BAD_VALUE_TYPE, f"key {key!r}: value type {vtype}", type_at)
        value = p.value(vtype)
        metadata[key] = value
        if key == "general.alignment":
            alignment = _check_alignment(p, vtype, value, type_at)

    if n_tensors * _MIN_TENSOR_INFO_LEN > file_size - p.pos:
        p.fail(GGUFProblem.TOO_MANY_TENSORS, f"n_tensors {n_tensors} after metadata", 8)
    seen: set[str] = set()
    starts: list[int] = []
    tensors: list[TensorInfo] = []
    for _ in range(n_tensors):
        starts.append(p.pos)
        tensors.append(_tensor_info(p, alignment, check_data, seen))

    data_offset = -(-p.pos // alignment) * alignment
    _check_layout(p, tensors, starts, data_offset, check_data)
    return GGUFHeader(
        version=version,
        alignment=alignment,
        data_offset=data_offset,
        file_size=file_size,
        metadata=MappingProxyType(metadata),
        tensors=tuple(tensors),
    )


def _check_alignment(p: _Parser, vtype: int, value: Any, at: int) -> int:
    if vtype != GGUFValueType.UINT32:
        p.fail(GGUFProblem.BAD_ALIGNMENT, f"general.alignment has value type {vtype}", at)
    alignment: int = value
    if alignment == 0 or alignment & (alignment - 1) or alignment > _MAX_ALIGNMENT:
        p.fail(GGUFProblem.BAD_ALIGNMENT, f"general.alignment = {alignment}", at)
    return alignment


def _check_layout(
    p: _Parser, tensors: list[TensorInfo], starts: list[int], data_offset: int, check_data: bool
) -> None:
    order = sorted(range(len(tensors)), key=lambda i: tensors[i].offset)
    for prev, cur in itertools.pairwise(order):
        a, b = tensors[prev], tensors[cur]
        if a.offset + a.n_bytes > b.offset:
            p.fail(GGUFProblem.OVERLAPPING_TENSORS, f"{a.name} overlaps {b.name}", starts[cur])
    if not check_data:
        return
    for t, at in zip(tensors, starts, strict=True):
        end = data_offset + t.offset + t.n_bytes
        if end > p.size:
            p.fail(GGUFProblem.DATA_PAST_EOF, f"{t.name} ends at {end}, file {p.size}", at)


def parse_gguf_header(
    buf: bytes | memoryview | mmap.mmap, file_size: int, *, check_data: bool = True
) -> GGUFHeader:
    """Parse a header from ``buf``, the first ``len(buf)`` bytes of a ``file_size``-byte file.

    Raises ``NeedMoreData`` when bytes past ``len(buf)`` (but within the file) are needed, and
    ``GGUFError`` for anything invalid. ``check_data=False`` skips the checks that compare tensor
    data with ``file_size`` (DATA_PAST_EOF); structure, alignment and overlaps are still checked.
    """
    return _parse(buf, file_size, check_data, None)


def read_gguf_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Validate the GGUF file at ``path`` and return its header; tensor data is never read."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise _access_error(exc, p) from exc
    if stat.S_ISDIR(st.st_mode):
        raise FileAccessError("is_directory", "is a directory", path=p)
    if not stat.S_ISREG(st.st_mode):
        # A FIFO would block open() forever; devices have no meaningful size.
        raise FileAccessError("io_error", f"not a regular file (mode {st.st_mode:o})", path=p)
    try:
        with open(p, "rb") as f:
            return _read_open_file(f, p)
    except OSError as exc:
        raise _access_error(exc, p) from exc


def _read_open_file(f: BinaryIO, path: Path) -> GGUFHeader:
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise GGUFError(GGUFProblem.EMPTY, "0 bytes", path=path, offset=0)
    # Plain reads, not mmap: a mapped file truncated by another process (a download being
    # rewritten) raises SIGBUS on access, which would kill the app instead of raising.
    return _read_incrementally(f.read, size, path)


def _read_incrementally(read: Callable[[int], bytes], size: int, path: Path) -> GGUFHeader:
    buf = b""
    want = min(size, 1024 * 1024)
    while True:
        chunk = read(want - len(buf))
        buf += chunk
        if len(buf) < want:  # the file shrank while we read it
            size = len(buf)
        try:
            return _parse(buf, size, True, path)
        except NeedMoreData as more:
            want = more.needed  # always > len(buf), so this loop makes progress


def _access_error(exc: OSError, path: Path) -> FileAccessError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        code = "not_found"
    elif isinstance(exc, IsADirectoryError):
        code = "is_directory"
    elif isinstance(exc, PermissionError):
        # Windows reports opening a directory as "access denied".
        code = "is_directory" if os.path.isdir(path) else "permission_denied"
    else:
        code = "io_error"
    return FileAccessError(code, f"{type(exc).__name__}: {exc.strerror or exc}", path=path)
