"""The safetensors reader: header validation, dtypes, offsets, shards, chunked reads."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convert_fakes import from_bf16_bits, to_bf16_bits, write_safetensors
from desktop_app.core.convert.errors import ConvertError
from desktop_app.core.convert.safetensors_reader import (
    HEADER_CAP,
    iter_row_chunks,
    load_weight_set,
    read_safetensors_header,
    to_float32,
)


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "a": rng.standard_normal((4, 6)).astype(np.float32),
        "b": rng.standard_normal(5).astype(np.float32),
        "c": np.zeros((0, 3), dtype=np.float32),
    }


def _code(exc: pytest.ExceptionInfo[ConvertError]) -> str:
    return exc.value.code


def _raw_file(path: Path, header: Any, data: bytes = b"") -> Path:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_reads_every_float_dtype_exactly(tmp_path: Path, dtype: str) -> None:
    tensors = _tensors()
    path = write_safetensors(tmp_path / "m.safetensors", tensors, dtype, metadata={"k": "v"})
    st = read_safetensors_header(path)
    assert st.metadata == {"k": "v"}
    assert set(st.tensors) == {"a", "b", "c"}
    entry = st.tensors["a"]
    assert (entry.dtype, entry.shape, entry.n_elements) == (dtype, (4, 6), 24)
    values = np.concatenate([to_float32(c, dtype) for c in iter_row_chunks(entry, 3)])
    if dtype == "BF16":
        expected = from_bf16_bits(to_bf16_bits(tensors["a"]))
    else:
        expected = tensors["a"].astype({"F32": np.float32, "F16": np.float16}[dtype])
    np.testing.assert_array_equal(values, expected.astype(np.float32))
    assert list(iter_row_chunks(st.tensors["c"], 4)) == []


def test_bf16_decoding_is_the_upper_half_of_float32() -> None:
    bits = np.array([0x3F80, 0xC000, 0x7F80, 0x0001], dtype=np.uint16)
    assert to_float32(bits, "BF16").tolist()[:3] == [1.0, -2.0, float("inf")]


def test_rows_can_be_read_in_another_order(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.float32).reshape(6, 4)
    st = read_safetensors_header(write_safetensors(tmp_path / "m.safetensors", {"w": arr}))
    order = np.array([5, 0, 3, 1, 4, 2])
    got = np.concatenate(list(iter_row_chunks(st.tensors["w"], 4, order)))
    np.testing.assert_array_equal(got, arr[order])


@pytest.mark.parametrize("data", [b"", b"\x01\x02", b"\x10" + b"\x00" * 6])
def test_files_shorter_than_their_header_are_truncated(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "t.safetensors"
    path.write_bytes(data)
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "truncated"


def test_truncated_tensor_data(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", _tensors())
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "truncated" and exc.value.tensor == "b"


def test_a_header_over_the_cap_is_refused_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", HEADER_CAP + 1) + b"{}")  # claims 100 MB + 1
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "header_too_large" and exc.value.actual == (HEADER_CAP + 1,)


@pytest.mark.parametrize(
    "header",
    [
        b"not json",
        b"[1, 2]",
        b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
        b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',  # duplicate name
        b"\xff\xfe{}",
        {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
        {"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}},
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}},
        {"a": {"shape": [1], "data_offsets": [0, 4]}},
        {"a": [1, 2]},
        {"__metadata__": {"k": 1}},
    ],
)
def test_malformed_headers(tmp_path: Path, header: Any) -> None:
    path = _raw_file(tmp_path / "bad.safetensors", header, b"\x00" * 8)
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "bad_header"


@pytest.mark.parametrize("dtype", ["I64", "I32", "I8", "U8", "BOOL", "F64", "F8_E4M3", "Q4"])
def test_integer_and_other_dtypes_are_refused(tmp_path: Path, dtype: str) -> None:
    header = {"w": {"dtype": dtype, "shape": [2], "data_offsets": [0, 16]}}
    path = _raw_file(tmp_path / "int.safetensors", header, b"\x00" * 16)
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "unsupported_dtype" and exc.value.dtype == dtype
    assert exc.value.tensor == "w"


def test_a_size_that_does_not_match_the_shape(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(_raw_file(tmp_path / "s.safetensors", header, b"\x00" * 8))
    assert _code(exc) == "bad_tensor_size"


def test_overlapping_offsets(tmp_path: Path) -> None:
    def overlap(header: dict[str, Any]) -> None:
        header["b"]["data_offsets"] = [80, 100]  # inside "a" (0..96)

    path = write_safetensors(tmp_path / "o.safetensors", _tensors(), edit_header=overlap)
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "overlapping_offsets"


@pytest.mark.parametrize("extra", ["hole", "trailing"])
def test_bytes_that_belong_to_no_tensor(tmp_path: Path, extra: str) -> None:
    header = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [8 if extra == "hole" else 0]}}
    header["w"]["data_offsets"].append(header["w"]["data_offsets"][0] + 8)
    path = _raw_file(tmp_path / "g.safetensors", header, b"\x00" * 16)
    with pytest.raises(ConvertError) as exc:
        read_safetensors_header(path)
    assert _code(exc) == "unused_data"


def _sharded(tmp_path: Path, weight_map: dict[str, str] | None = None) -> Path:
    t = _tensors()
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": t["a"]})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"b": t["b"]})
    if weight_map is None:
        weight_map = {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    index = {"metadata": {}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    return tmp_path


def test_a_sharded_model_is_read_through_its_index(tmp_path: Path) -> None:
    ws = load_weight_set(_sharded(tmp_path))
    assert set(ws.tensors) == {"a", "b"} and len(ws.files) == 2
    assert ws.tensors["b"].path.name == "model-00002-of-00002.safetensors"
    assert ws.total_bytes == 4 * (24 + 5)


def test_a_missing_shard(tmp_path: Path) -> None:
    _sharded(tmp_path)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "missing_shard"
    assert exc.value.files == ("model-00002-of-00002.safetensors",)


@pytest.mark.parametrize(
    "shard",
    [
        "../evil.safetensors",
        "/etc/x.safetensors",
        "a\\b.safetensors",
        "model.bin",
        ".hidden.safetensors",
    ],
)
def test_unsafe_shard_names_in_the_index(tmp_path: Path, shard: str) -> None:
    _sharded(tmp_path, {"a": shard, "b": "model-00002-of-00002.safetensors"})
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "bad_index"


def test_index_and_shards_must_agree(tmp_path: Path) -> None:
    wrong_shard = {"a": "model-00002-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}
    _sharded(tmp_path, wrong_shard)
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "index_mismatch"


def test_a_tensor_missing_from_the_index(tmp_path: Path) -> None:
    _sharded(
        tmp_path, {"a": "model-00001-of-00002.safetensors", "z": "model-00002-of-00002.safetensors"}
    )
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "index_mismatch"


def test_a_tensor_in_two_shards(tmp_path: Path) -> None:
    _sharded(tmp_path)
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", _tensors())
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "duplicate_tensor"


def test_several_files_without_an_index(tmp_path: Path) -> None:
    _sharded(tmp_path)
    (tmp_path / "model.safetensors.index.json").unlink()
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "missing_index"


def test_a_bad_index_file(tmp_path: Path) -> None:
    _sharded(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(ConvertError) as exc:
        load_weight_set(tmp_path)
    assert _code(exc) == "bad_index"
