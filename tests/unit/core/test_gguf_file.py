"""Tests for the GGUF header reader: valid files round-trip, every malformed header is a GGUFError.

Files are built by hand with ``struct`` (see the builder below) so these tests depend on nothing
but the module under test.
"""

from __future__ import annotations

import mmap
import os
import pickle
import random
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core import gguf_file
from desktop_app.core.errors import FileAccessError
from desktop_app.core.gguf_file import (
    GGML_TYPE_SIZES,
    ArraySummary,
    GGUFError,
    GGUFHeader,
    GGUFProblem,
    NeedMoreData,
    ggml_type_name,
    parse_gguf_header,
    read_gguf_header,
)

# --- a tiny GGUF builder -------------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?",
        U64: "Q", I64: "q", F64: "d"}  # fmt: skip
GGML_F32, GGML_F16, GGML_Q4_0 = 0, 1, 2


def gstr(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def enc(vtype: int, value: Any) -> bytes:
    if vtype == STR:
        return gstr(value)
    if vtype == ARR:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(enc(etype, x) for x in items)
    return struct.pack("<" + _FMT[vtype], value)


def kv(key: str | bytes, vtype: int, value: Any) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + enc(vtype, value)


def tinfo(name: str | bytes, shape: tuple[int, ...], gtype: int, offset: int) -> bytes:
    dims = struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
    return gstr(name) + dims + struct.pack("<IQ", gtype, offset)


def build(
    kvs: list[bytes] | tuple[bytes, ...] = (),
    tensors: list[bytes] | tuple[bytes, ...] = (),
    *,
    data_len: int = 0,
    alignment: int = 32,
    magic: bytes = b"GGUF",
    version: int = 3,
    n_tensors: int | None = None,
    n_kv: int | None = None,
) -> bytes:
    counts = struct.pack(
        "<QQ",
        len(tensors) if n_tensors is None else n_tensors,
        len(kvs) if n_kv is None else n_kv,
    )
    out = magic + struct.pack("<I", version) + counts + b"".join(kvs) + b"".join(tensors)
    out += b"\0" * (-len(out) % alignment)
    return out + b"\xab" * data_len


def one_tensor(info: bytes, data_len: int = 4096, kvs: tuple[bytes, ...] = ()) -> bytes:
    return build(list(kvs), [info], data_len=data_len)


ALL_SCALARS = [
    kv("t.u8", U8, 255),
    kv("t.i8", I8, -128),
    kv("t.u16", U16, 65535),
    kv("t.i16", I16, -32768),
    kv("t.u32", U32, 2**32 - 1),
    kv("t.i32", I32, -(2**31)),
    kv("t.f32", F32, 0.5),
    kv("t.bool", BOOL, True),
    kv("t.str", STR, "héllo"),
    kv("t.u64", U64, 2**64 - 1),
    kv("t.i64", I64, -(2**63)),
    kv("t.f64", F64, -2.25),
]
SMALL_ARRAYS = [
    kv("a.u8", ARR, (U8, [1, 2, 3])),
    kv("a.i8", ARR, (I8, [-1, 0])),
    kv("a.u16", ARR, (U16, [7])),
    kv("a.i16", ARR, (I16, [-7, 7])),
    kv("a.u32", ARR, (U32, [32, 32, 32])),
    kv("a.i32", ARR, (I32, [-5])),
    kv("a.f32", ARR, (F32, [1.5, -0.25])),
    kv("a.bool", ARR, (BOOL, [True, False])),
    kv("a.str", ARR, (STR, ["a", "", "ü"])),
    kv("a.u64", ARR, (U64, [2**40])),
    kv("a.i64", ARR, (I64, [-(2**40)])),
    kv("a.f64", ARR, (F64, [0.125])),
    kv("a.empty", ARR, (I32, [])),
    kv("a.max_small", ARR, (U8, [1] * 1024)),
]
# 32x4 F32 = 512 bytes at 0; 64x2 Q4_0 = 4 blocks * 18 = 72 bytes at 512; 16 F16 = 32 at 608.
SAMPLE_TENSORS = [
    ("tok_embd.weight", (32, 4), GGML_F32, 0, 512),
    ("blk.0.attn_q.weight", (64, 2), GGML_Q4_0, 512, 72),
    ("output_norm.weight", (16,), GGML_F16, 608, 32),
]


def sample(
    *, alignment: int = 32, big_strings: int = 0, extra_kvs: tuple[bytes, ...] = ()
) -> bytes:
    kvs = [kv("general.architecture", STR, "llama"), *ALL_SCALARS, *SMALL_ARRAYS, *extra_kvs]
    kvs.append(kv("a.big_u8", ARR, (U8, [0] * 1025)))
    if big_strings:
        kvs.append(kv("tokenizer.ggml.tokens", ARR, (STR, [f"t{i}" for i in range(big_strings)])))
    if alignment != 32:
        kvs.append(kv("general.alignment", U32, alignment))
    tensors = []
    offset = 0
    for name, shape, gtype, _, n_bytes in SAMPLE_TENSORS:
        tensors.append(tinfo(name, shape, gtype, offset))
        end = offset + n_bytes
        offset = -(-end // alignment) * alignment
    return build(kvs, tensors, data_len=end, alignment=alignment)


def problem_of(data: bytes, *, check_data: bool = True) -> GGUFProblem:
    with pytest.raises(GGUFError) as info:
        parse_gguf_header(data, len(data), check_data=check_data)
    assert info.value.code == "invalid_gguf"
    assert info.value.offset is None or 0 <= info.value.offset <= len(data)
    return info.value.problem


def write(tmp_path: Path, data: bytes, name: str = "m.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- valid files ---------------------------------------------------------------------------------


def test_round_trip_all_value_types(tmp_path: Path) -> None:
    header = read_gguf_header(write(tmp_path, sample()))
    md = header.metadata
    assert header.version == 3
    assert md["general.architecture"] == "llama"
    assert (md["t.u8"], md["t.i8"], md["t.u16"], md["t.i16"]) == (255, -128, 65535, -32768)
    assert (md["t.u32"], md["t.i32"]) == (2**32 - 1, -(2**31))
    assert (md["t.u64"], md["t.i64"]) == (2**64 - 1, -(2**63))
    assert (md["t.f32"], md["t.f64"]) == (0.5, -2.25)
    assert md["t.bool"] is True
    assert md["t.str"] == "héllo"
    assert md["a.u8"] == (1, 2, 3)
    assert md["a.i8"] == (-1, 0)
    assert md["a.u16"] == (7,)
    assert md["a.i16"] == (-7, 7)
    assert md["a.u32"] == (32, 32, 32)
    assert md["a.i32"] == (-5,)
    assert md["a.f32"] == (1.5, -0.25)
    assert md["a.bool"] == (True, False)
    assert md["a.str"] == ("a", "", "ü")
    assert md["a.u64"] == (2**40,)
    assert md["a.i64"] == (-(2**40),)
    assert md["a.f64"] == (0.125,)
    assert md["a.empty"] == ()
    assert len(md["a.max_small"]) == 1024
    assert md["a.big_u8"] == ArraySummary(element_type=U8, length=1025)
    assert header.get("t.u8") == 255
    assert header.get("missing") is None
    assert header.get("missing", 7) == 7


def test_tensors_offsets_and_alignment() -> None:
    data = sample()
    header = parse_gguf_header(data, len(data))
    assert header.alignment == 32
    assert header.data_offset % 32 == 0
    assert header.header_bytes == header.data_offset
    assert header.file_size == len(data)
    assert header.data_offset + 608 + 32 == len(data)
    got = [(t.name, t.shape, t.ggml_type, t.offset, t.n_bytes) for t in header.tensors]
    assert got == SAMPLE_TENSORS
    assert [t.n_elements for t in header.tensors] == [128, 128, 16]


def test_custom_alignment_64() -> None:
    data = sample(alignment=64)
    header = parse_gguf_header(data, len(data))
    assert header.alignment == 64
    assert header.data_offset % 64 == 0
    # 512 is already 64-aligned; the Q4_0 tensor ends at 584, so the F16 one moves to 640.
    assert [t.offset for t in header.tensors] == [0, 512, 640]
    assert header.data_offset + 640 + 32 == len(data)


def test_big_string_array_is_summarised() -> None:
    data = sample(big_strings=5000)
    header = parse_gguf_header(data, len(data))
    assert header.metadata["tokenizer.ggml.tokens"] == ArraySummary(STR, 5000)


def test_version_2_and_path_types(tmp_path: Path) -> None:
    path = write(tmp_path, build([kv("k", U8, 1)], version=2))
    assert read_gguf_header(path).version == 2
    assert read_gguf_header(str(path)).metadata == {"k": 1}


def test_zero_tensors_without_padding_is_accepted() -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv("k", U8, 1)
    assert parse_gguf_header(data, len(data)).tensors == ()


def test_longest_key_and_tensor_name_are_accepted() -> None:
    data = one_tensor(tinfo("n" * 63, (8,), GGML_F32, 0), 32, (kv("k" * 65535, U8, 1),))
    header = parse_gguf_header(data, len(data))
    assert header.tensors[0].name == "n" * 63
    assert header.get("k" * 65535) == 1


def test_invalid_utf8_in_string_value_is_replaced() -> None:
    data = build([kv("k", STR, b"a\xffb")])
    assert parse_gguf_header(data, len(data)).get("k") == "a\ufffdb"


# gguf-py still lists Q8_1 with the old float32 d/s layout (4 + 4 + 32 = 40 bytes); ggml's
# block_q8_1 has been two fp16 values plus 32 quants (36 bytes) for a long time, and ggml-common.h
# static_asserts it. Q8_1 is a dot-product scratch type that model files do not use.
GGUF_PY_KNOWN_STALE = {9: ("Q8_1", 32, 40)}


def test_ggml_type_table_matches_gguf_package() -> None:
    from gguf import constants  # a dependency of the app: always installed

    known = {int(t): t for t in constants.GGMLQuantizationType}
    theirs = {
        type_id: (qtype.name, *constants.GGML_QUANT_SIZES[qtype])
        for type_id, qtype in known.items()
    }
    # A type gguf-py knows but this table does not would make valid files "unknown".
    ours = {type_id: GGML_TYPE_SIZES.get(type_id) for type_id in known}
    for type_id, stale in GGUF_PY_KNOWN_STALE.items():
        assert theirs.pop(type_id) == stale
        ours.pop(type_id)
    assert ours == theirs
    assert GGML_TYPE_SIZES[9] == ("Q8_1", 32, 36)
    # The bundled llama.cpp may be newer than gguf-py (Q2_0 = 42 is not in gguf 0.19.0).
    assert set(GGML_TYPE_SIZES) >= set(known)


def test_ggml_type_name() -> None:
    assert ggml_type_name(12) == "Q4_K"
    assert ggml_type_name(39) == "MXFP4"
    assert ggml_type_name(42) == "Q2_0"
    assert ggml_type_name(4) == "UNKNOWN_4"


# --- not a GGUF file at all ----------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(GGUFError) as info:
        read_gguf_header(write(tmp_path, b""))
    assert info.value.problem is GGUFProblem.EMPTY
    assert info.value.path == tmp_path / "m.gguf"
    assert problem_of(b"") is GGUFProblem.EMPTY


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"GGUX" + bytes(40), GGUFProblem.BAD_MAGIC),
        (b"GGJT" + bytes(40), GGUFProblem.OLD_FORMAT),
        (b"GGML" + bytes(40), GGUFProblem.OLD_FORMAT),
        (b"tjgg" + bytes(40), GGUFProblem.OLD_FORMAT),  # 'ggjt' as a little-endian u32
        (b"\x89PNG\r\n\x1a\n" + bytes(100), GGUFProblem.BAD_MAGIC),
        (b"hello, this is a text file\n", GGUFProblem.BAD_MAGIC),
        (b"x", GGUFProblem.BAD_MAGIC),
        (b"GG", GGUFProblem.TRUNCATED),
    ],
)
def test_not_gguf(tmp_path: Path, data: bytes, problem: GGUFProblem) -> None:
    with pytest.raises(GGUFError) as info:
        read_gguf_header(write(tmp_path, data))
    assert info.value.problem is problem


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        (0, GGUFProblem.UNSUPPORTED_VERSION),
        (1, GGUFProblem.UNSUPPORTED_VERSION),
        (4, GGUFProblem.UNSUPPORTED_VERSION),
        (0x03000000, GGUFProblem.WRONG_ENDIANNESS),
        (0x02000000, GGUFProblem.WRONG_ENDIANNESS),
    ],
)
def test_versions(version: int, problem: GGUFProblem) -> None:
    assert problem_of(build([kv("k", U8, 1)], version=version)) is problem


# --- truncation and partial buffers --------------------------------------------------------------


def test_every_prefix_is_rejected() -> None:
    data = sample()
    for n in range(len(data)):
        with pytest.raises(GGUFError):
            parse_gguf_header(data[:n], n)
    parse_gguf_header(data, len(data))


def test_every_prefix_file_is_rejected(tmp_path: Path) -> None:
    data = sample()
    path = tmp_path / "p.gguf"
    for n in range(0, len(data), 3):
        path.write_bytes(data[:n])
        with pytest.raises(GGUFError):
            read_gguf_header(path)


def test_every_prefix_of_big_array_file_is_rejected() -> None:
    data = sample(big_strings=1500)
    for n in range(0, len(data), 5):
        with pytest.raises(GGUFError):
            parse_gguf_header(data[:n], n)


def parse_or_needed(buf: bytes | memoryview, file_size: int) -> GGUFHeader | int:
    """The header, or how many bytes parse_gguf_header asked for."""
    try:
        return parse_gguf_header(buf, file_size)
    except NeedMoreData as more:
        return more.needed


def test_every_partial_buffer_asks_for_more_or_succeeds() -> None:
    data = sample(big_strings=1500)
    full = parse_gguf_header(data, len(data))
    for n in range(0, full.data_offset, 7):
        result = parse_or_needed(data[:n], len(data))
        if isinstance(result, int):
            assert n < result <= len(data)
        else:
            assert result == full


@pytest.mark.parametrize("start", [0, 5, 100, 4096])
def test_partial_buffer_loop_terminates(start: int) -> None:
    data = sample(big_strings=152_000)
    n = start
    for _ in range(10):
        result = parse_or_needed(memoryview(data)[:n], len(data))
        if isinstance(result, GGUFHeader):
            break
        assert n < result <= len(data)
        n = result
    else:
        pytest.fail("parse_gguf_header kept asking for more data")
    header = result
    assert header.metadata["tokenizer.ggml.tokens"] == ArraySummary(STR, 152_000)


def test_tensor_data_one_byte_short() -> None:
    data = sample()[:-1]
    assert problem_of(data) is GGUFProblem.DATA_PAST_EOF
    assert len(parse_gguf_header(data, len(data), check_data=False).tensors) == 3


# --- counts, keys, values ------------------------------------------------------------------------


@pytest.mark.parametrize("n_tensors", [2**63, 2**64 - 1, 10**6])
def test_too_many_tensors(n_tensors: int) -> None:
    assert problem_of(build([kv("k", U8, 1)], n_tensors=n_tensors)) is GGUFProblem.TOO_MANY_TENSORS


@pytest.mark.parametrize("n_kv", [2**63, 2**64 - 1])
def test_too_many_kv(n_kv: int) -> None:
    assert problem_of(build([kv("k", U8, 1)], n_kv=n_kv)) is GGUFProblem.TOO_MANY_KV


def test_key_length_huge() -> None:
    raw = struct.pack("<Q", 2**64 - 1) + b"abc" + struct.pack("<IB", U8, 1)
    assert problem_of(build([raw])) is GGUFProblem.BAD_KEY


@pytest.mark.parametrize("key", ["", "k" * 65536])
def test_bad_key(key: str) -> None:
    assert problem_of(build([kv(key, U8, 1)])) is GGUFProblem.BAD_KEY


def test_key_invalid_utf8() -> None:
    assert problem_of(build([kv(b"bad\xc3(", U8, 1)])) is GGUFProblem.BAD_UTF8


def test_duplicate_key() -> None:
    assert problem_of(build([kv("k", U8, 1), kv("k", U8, 2)])) is GGUFProblem.DUPLICATE_KEY


@pytest.mark.parametrize("vtype", [13, 2**32 - 1])
def test_bad_value_type(vtype: int) -> None:
    raw = gstr("k") + struct.pack("<IQ", vtype, 0)
    assert problem_of(build([raw])) is GGUFProblem.BAD_VALUE_TYPE


def test_bad_array_element_type() -> None:
    raw = gstr("k") + struct.pack("<IIQ", ARR, 13, 0)
    assert problem_of(build([raw])) is GGUFProblem.BAD_VALUE_TYPE


def test_nested_array() -> None:
    raw = gstr("k") + struct.pack("<IIQ", ARR, ARR, 1) + struct.pack("<IQ", U8, 0)
    assert problem_of(build([raw])) is GGUFProblem.NESTED_ARRAY


@pytest.mark.parametrize(("etype", "count"), [(U8, 2**63), (STR, 2**63), (F64, 2**61), (U8, 5000)])
def test_array_too_long(etype: int, count: int) -> None:
    raw = gstr("k") + struct.pack("<IIQ", ARR, etype, count) + bytes(100)
    assert problem_of(build([raw])) is GGUFProblem.ARRAY_TOO_LONG


def test_string_of_one_gib_in_tiny_file() -> None:
    raw = gstr("k") + struct.pack("<IQ", STR, 2**30) + b"tiny"
    assert problem_of(build([raw])) is GGUFProblem.STRING_TOO_LONG


def test_string_past_eof_within_cap() -> None:
    raw = gstr("k") + struct.pack("<IQ", STR, 1000) + b"tiny"
    assert problem_of(build([raw])) is GGUFProblem.TRUNCATED


def test_huge_string_inside_big_array() -> None:
    items = struct.pack("<Q", 2**40) * 2000
    raw = gstr("k") + struct.pack("<IIQ", ARR, STR, 2000) + items
    assert problem_of(build([raw])) is GGUFProblem.STRING_TOO_LONG


# --- alignment -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        kv("general.alignment", U32, 0),
        kv("general.alignment", U32, 13),
        kv("general.alignment", U32, 2**30),
        kv("general.alignment", I32, 32),
        kv("general.alignment", U64, 32),
        kv("general.alignment", STR, "32"),
        kv("general.alignment", ARR, (U32, [32])),
    ],
)
def test_bad_alignment(entry: bytes) -> None:
    assert problem_of(build([entry])) is GGUFProblem.BAD_ALIGNMENT


# --- tensor infos --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "n" * 64, "n" * 1000])
def test_bad_tensor_name(name: str) -> None:
    assert problem_of(one_tensor(tinfo(name, (8,), GGML_F32, 0))) is GGUFProblem.BAD_TENSOR_NAME


def test_tensor_name_invalid_utf8() -> None:
    assert problem_of(one_tensor(tinfo(b"w\xff", (8,), GGML_F32, 0))) is GGUFProblem.BAD_UTF8


def test_duplicate_tensor() -> None:
    infos = [tinfo("w", (8,), GGML_F32, 0), tinfo("w", (8,), GGML_F32, 32)]
    assert problem_of(build([], infos, data_len=64)) is GGUFProblem.DUPLICATE_TENSOR


@pytest.mark.parametrize("shape", [(), (1, 1, 1, 1, 1), (0,), (8, 0), (2**64 - 1,), (8, 2**63)])
def test_bad_dims(shape: tuple[int, ...]) -> None:
    assert problem_of(one_tensor(tinfo("w", shape, GGML_F32, 0))) is GGUFProblem.BAD_DIMS


def test_size_overflow() -> None:
    data = one_tensor(tinfo("w", (2**62, 8), GGML_F32, 0))
    assert problem_of(data) is GGUFProblem.SIZE_OVERFLOW
    assert problem_of(data, check_data=False) is GGUFProblem.SIZE_OVERFLOW


def test_tensor_bigger_than_file() -> None:
    data = one_tensor(tinfo("w", (2**20, 2**20), GGML_F32, 0))
    assert problem_of(data) is GGUFProblem.DATA_PAST_EOF
    header = parse_gguf_header(data, len(data), check_data=False)
    assert header.tensors[0].n_bytes == 4 * 2**40


@pytest.mark.parametrize("gtype", [4, 5, 31, 33, 36, 38, 43, 99, 2**32 - 1])
def test_unknown_tensor_type(gtype: int) -> None:
    assert problem_of(one_tensor(tinfo("w", (32,), gtype, 0))) is GGUFProblem.UNKNOWN_TENSOR_TYPE


def test_row_not_multiple_of_block() -> None:
    assert problem_of(one_tensor(tinfo("w", (48, 2), GGML_Q4_0, 0))) is GGUFProblem.BAD_SHAPE


def test_misaligned_offset() -> None:
    infos = [tinfo("a", (8,), GGML_F32, 0), tinfo("b", (8,), GGML_F32, 48)]
    assert problem_of(build([], infos, data_len=128)) is GGUFProblem.MISALIGNED_OFFSET


def test_overlapping_tensors() -> None:
    infos = [tinfo("a", (64,), GGML_F32, 128), tinfo("b", (64,), GGML_F32, 32)]
    assert problem_of(build([], infos, data_len=512)) is GGUFProblem.OVERLAPPING_TENSORS


def test_offset_past_eof() -> None:
    data = one_tensor(tinfo("w", (8,), GGML_F32, 2**63))
    assert problem_of(data) is GGUFProblem.DATA_PAST_EOF


# --- file access ---------------------------------------------------------------------------------


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError) as info:
        read_gguf_header(tmp_path)
    assert info.value.code == "is_directory"


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError) as info:
        read_gguf_header(tmp_path / "nope.gguf")
    assert info.value.code == "not_found"
    assert info.value.path == tmp_path / "nope.gguf"


def test_permission_denied_when_open_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, sample())

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(gguf_file, "open", refuse, raising=False)
    with pytest.raises(FileAccessError) as info:
        read_gguf_header(path)
    assert info.value.code == "permission_denied"


def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, sample())
    os.chmod(path, 0)
    try:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # root ignores file modes: the read must simply work.
            assert len(read_gguf_header(path).tensors) == 3
        else:
            with pytest.raises(FileAccessError) as info:
                read_gguf_header(path)
            assert info.value.code == "permission_denied"
    finally:
        os.chmod(path, 0o600)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "fifo.gguf"
    os.mkfifo(path)
    with pytest.raises(FileAccessError) as info:
        read_gguf_header(path)
    assert info.value.code == "io_error"


def test_without_mmap_reads_piecewise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write(tmp_path, sample(big_strings=3000))
    bad = write(tmp_path, sample()[:-1], "bad.gguf")
    expected = read_gguf_header(good)

    def no_mmap(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(19, "No such device")

    monkeypatch.setattr(mmap, "mmap", no_mmap)
    assert read_gguf_header(good) == expected
    with pytest.raises(GGUFError) as info:
        read_gguf_header(bad)
    assert info.value.problem is GGUFProblem.DATA_PAST_EOF


def test_error_pickles_and_formats(tmp_path: Path) -> None:
    with pytest.raises(GGUFError) as info:
        read_gguf_header(write(tmp_path, b"GGJT" + bytes(40)))
    err = info.value
    assert err.path == tmp_path / "m.gguf"
    assert err.offset == 0
    assert "old_format" in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.problem, clone.detail, clone.path, clone.offset) == (
        err.problem,
        err.detail,
        err.path,
        err.offset,
    )


# --- robustness and speed ------------------------------------------------------------------------


def test_bit_flip_fuzz() -> None:
    rng = random.Random(20240611)
    original = sample(big_strings=1100)
    header_end = parse_gguf_header(original, len(original)).data_offset
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            # Mostly flip header bytes: flips in tensor data cannot change the outcome.
            data[rng.randrange(header_end)] ^= rng.randint(1, 255)
        started = time.perf_counter()
        try:
            parse_gguf_header(bytes(data), len(data))
        except GGUFError:
            pass
        assert time.perf_counter() - started < 1.0


def vocab_header(n: int = 152_000) -> bytes:
    tokens = [f"tok{i}".encode() for i in range(n)]
    merges = [f"a{i} b{i}".encode() for i in range(n)]
    kvs = [
        kv("general.architecture", STR, "qwen2"),
        kv("tokenizer.chat_template", STR, "{{ x }}" * 2000),
        kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        kv("tokenizer.ggml.scores", ARR, (F32, [0.0] * n)),
        kv("tokenizer.ggml.token_type", ARR, (I32, [1] * n)),
        kv("tokenizer.ggml.merges", ARR, (STR, merges)),
    ]
    return build(kvs, [tinfo("w", (32,), GGML_F32, 0)], data_len=128)


def test_152k_vocab_header_is_fast() -> None:
    data = vocab_header()
    started = time.perf_counter()
    header: GGUFHeader = parse_gguf_header(data, len(data))
    elapsed = time.perf_counter() - started
    assert header.metadata["tokenizer.ggml.tokens"] == ArraySummary(STR, 152_000)
    assert header.metadata["tokenizer.ggml.merges"] == ArraySummary(STR, 152_000)
    assert header.metadata["tokenizer.ggml.scores"] == ArraySummary(F32, 152_000)
    assert elapsed < 1.0  # typically ~0.05 s; the bound only catches pathological slowness
