"""Tests for desktop_app.core.quant_types: the table, the lookups and the name parser.

The cross-checks against llama_cpp import it inside the tests only: the module under test
must stay importable without the native library, which one test checks in a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from desktop_app.core.quant_types import (
    FILE_TYPES,
    GUESSED_FLAG,
    FileType,
    QuantFamily,
    QuantLabelMatch,
    file_type_by_id,
    file_type_by_label,
    infer_file_type,
    parse_quant_label,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def _get(label: str) -> FileType:
    ft = file_type_by_label(label)
    assert ft is not None, label
    return ft


# --- the table --------------------------------------------------------------------------------


def test_ids_labels_and_ranks_are_unique() -> None:
    for attribute in ("ftype", "label", "rank"):
        values = [getattr(ft, attribute) for ft in FILE_TYPES]
        assert len(values) == len(set(values)), attribute


def test_table_is_listed_best_quality_first() -> None:
    ranks = [ft.rank for ft in FILE_TYPES]
    assert ranks == sorted(ranks, reverse=True)


def test_labels_are_canonical_upper_case() -> None:
    for ft in FILE_TYPES:
        assert ft.label == ft.label.upper()
        assert all(ch.isalnum() or ch == "_" for ch in ft.label), ft.label


def test_retired_ids_are_absent() -> None:
    assert {4, 5, 6, 33, 34, 35}.isdisjoint(ft.ftype for ft in FILE_TYPES)


LADDER = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


@pytest.mark.parametrize(("better", "worse"), list(zip(LADDER, LADDER[1:], strict=False)))
def test_quality_ladder_rank_and_size_both_fall(better: str, worse: str) -> None:
    assert _get(better).rank > _get(worse).rank
    assert _get(better).bits_per_weight > _get(worse).bits_per_weight


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        ("BF16", "F16"),  # BF16 holds bf16-trained weights exactly; F16 may clip
        ("F32", "BF16"),
        ("Q5_K_M", "Q5_K_S"),
        ("Q4_K_M", "Q4_K_S"),
        ("Q4_K_S", "IQ4_XS"),
        ("Q3_K_L", "Q3_K_M"),
        ("IQ3_M", "IQ3_S"),
        ("IQ3_XXS", "Q3_K_S"),  # llama.cpp's KL-divergence table puts IQ3_XXS ahead
        ("Q2_K", "Q2_K_S"),
        ("IQ2_M", "IQ2_S"),
        ("IQ2_XS", "IQ2_XXS"),
        ("IQ1_M", "IQ1_S"),
    ],
)
def test_rank_orders_neighbours(better: str, worse: str) -> None:
    assert _get(better).rank > _get(worse).rank


def test_float_types_outrank_every_quantized_type() -> None:
    floats = [ft.rank for ft in FILE_TYPES if ft.family is QuantFamily.FLOAT]
    others = [ft.rank for ft in FILE_TYPES if ft.family is not QuantFamily.FLOAT]
    assert min(floats) > max(others)


FAMILIES: dict[QuantFamily, set[str]] = {
    QuantFamily.FLOAT: {"F32", "F16", "BF16"},
    QuantFamily.LEGACY: {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"},
    QuantFamily.K: {
        "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L",
        "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
    },
    QuantFamily.IQ: {
        "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M",
        "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS",
    },
    QuantFamily.TERNARY: {"TQ1_0", "TQ2_0"},
    QuantFamily.MX: {"MXFP4_MOE", "NVFP4"},
    QuantFamily.OTHER: {"Q1_0", "Q2_0"},
}  # fmt: skip


@pytest.mark.parametrize("family", list(QuantFamily))
def test_family_membership(family: QuantFamily) -> None:
    assert {ft.label for ft in FILE_TYPES if ft.family is family} == FAMILIES[family]


def test_family_values_are_plain_strings() -> None:
    assert str(QuantFamily.K) == "k"
    assert QuantFamily("legacy") is QuantFamily.LEGACY
    assert f"{QuantFamily.IQ}" == "iq"


def test_needs_imatrix_matches_what_llama_quantize_refuses() -> None:
    expected = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS",
                "Q2_K_S"}  # fmt: skip
    assert {ft.label for ft in FILE_TYPES if ft.needs_imatrix} == expected


def test_imatrix_recommended_covers_every_required_type() -> None:
    for ft in FILE_TYPES:
        if ft.needs_imatrix:
            assert ft.imatrix_recommended, ft.label
    assert _get("Q2_K").imatrix_recommended
    assert _get("IQ4_XS").imatrix_recommended
    assert not _get("Q4_K_M").imatrix_recommended
    assert not _get("TQ1_0").imatrix_recommended


@pytest.mark.parametrize("ft", FILE_TYPES, ids=lambda ft: ft.label)
def test_each_row_is_plausible(ft: FileType) -> None:
    assert 1.0 <= ft.bits_per_weight <= 32.0
    assert ft.note.strip() == ft.note
    assert "\n" not in ft.note
    assert 10 <= len(ft.note) <= 90
    assert ft.note.endswith(".")


def test_spot_values() -> None:
    assert _get("F32").bits_per_weight == 32.0
    assert _get("F16").bits_per_weight == 16.0
    assert _get("BF16").bits_per_weight == 16.0
    assert _get("Q8_0").bits_per_weight == pytest.approx(8.5)
    assert _get("Q4_K_M").bits_per_weight == pytest.approx(4.89)
    assert _get("Q6_K").bits_per_weight == pytest.approx(6.56)


def test_module_imports_neither_llama_cpp_nor_qt() -> None:
    # A fresh interpreter, because other tests in this run import llama_cpp themselves.
    code = (
        "import sys, desktop_app.core.quant_types\n"
        "bad = [m for m in ('llama_cpp', 'PySide6', 'gguf', 'numpy') if m in sys.modules]\n"
        "print(', '.join(bad), file=sys.stderr)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- lookups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Q4_K_M", "Q4_K_M"),
        ("q4_k_m", "Q4_K_M"),
        ("q4-k-m", "Q4_K_M"),
        ("Q4.K.M", "Q4_K_M"),
        (" iq3_xxs ", "IQ3_XXS"),
        ("FP16", "F16"),
        ("fp32", "F32"),
        ("f16", "F16"),
        ("bf16", "BF16"),
        ("Q4_K", "Q4_K_M"),
        ("q5_k", "Q5_K_M"),
        ("Q3_K", "Q3_K_M"),
        ("Q2_K", "Q2_K"),
        ("Q6_K", "Q6_K"),
        ("q8.0", "Q8_0"),
        ("mxfp4", "MXFP4_MOE"),
        ("MXFP4_MOE", "MXFP4_MOE"),
        ("tq1_0", "TQ1_0"),
    ],
)
def test_file_type_by_label(text: str, label: str) -> None:
    assert _get(text).label == label


@pytest.mark.parametrize(
    "text", ["", "  ", "Q4", "Q7_0", "GGUF", "F8", "Q4_K_XL", "Q4_K_L", "COPY", "all F32"]
)
def test_file_type_by_label_unknown(text: str) -> None:
    assert file_type_by_label(text) is None


@pytest.mark.parametrize("ft", FILE_TYPES, ids=lambda ft: ft.label)
def test_lookups_round_trip(ft: FileType) -> None:
    assert file_type_by_id(ft.ftype) is ft
    assert file_type_by_label(ft.label) is ft
    assert file_type_by_label(ft.label.lower()) is ft
    assert file_type_by_id(ft.ftype | GUESSED_FLAG) is ft


@pytest.mark.parametrize("ftype", [4, 5, 6, 33, 34, 35, 42, 99, -1, 2048, GUESSED_FLAG | 5])
def test_file_type_by_id_unknown(ftype: int) -> None:
    assert file_type_by_id(ftype) is None


def test_guessed_all_f32_is_f32() -> None:
    assert _get("F32") is file_type_by_id(GUESSED_FLAG)


# --- file names -------------------------------------------------------------------------------


def _m(
    label: str,
    stem: str,
    *,
    imatrix: bool = False,
    shard: tuple[int, int] | None = None,
) -> QuantLabelMatch:
    return QuantLabelMatch(
        label=label,
        shard_index=shard[0] if shard else None,
        shard_count=shard[1] if shard else None,
        imatrix=imatrix,
        stem=stem,
    )


NAMES: list[tuple[str, QuantLabelMatch]] = [
    ("qwen2.5-7b-instruct-q4_k_m.gguf", _m("Q4_K_M", "qwen2.5-7b-instruct")),
    ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", _m("Q4_K_M", "Meta-Llama-3.1-8B-Instruct")),
    ("llama-2-7b.Q4_K_M.gguf", _m("Q4_K_M", "llama-2-7b")),
    ("mistral-7b-instruct-v0.2.Q5_K_S.gguf", _m("Q5_K_S", "mistral-7b-instruct-v0.2")),
    ("Phi-3-mini-4k-instruct-fp16.gguf", _m("F16", "Phi-3-mini-4k-instruct")),
    ("gemma-2-9b-it-IQ3_XXS.gguf", _m("IQ3_XXS", "gemma-2-9b-it")),
    ("model-f16.gguf", _m("F16", "model")),
    ("Model.BF16.gguf", _m("BF16", "Model")),
    ("model-f32.gguf", _m("F32", "model")),
    ("model-FP32.gguf", _m("F32", "model")),
    (
        "Qwen2.5-72B-Instruct-Q4_K_M-00001-of-00012.gguf",
        _m("Q4_K_M", "Qwen2.5-72B-Instruct", shard=(1, 12)),
    ),
    ("foo-q4_k_m-00002-of-00003.gguf", _m("Q4_K_M", "foo", shard=(2, 3))),
    ("Llama-3.2-1B-Instruct.i1-Q4_K_M.gguf", _m("Q4_K_M", "Llama-3.2-1B-Instruct", imatrix=True)),
    ("model.i1-IQ2_M.gguf", _m("IQ2_M", "model", imatrix=True)),
    ("model-imat-Q4_K_M.gguf", _m("Q4_K_M", "model", imatrix=True)),
    ("model-IQ4_XS-imat.gguf", _m("IQ4_XS", "model", imatrix=True)),
    ("Model-IMatrix-Q5_K_M.gguf", _m("Q5_K_M", "Model", imatrix=True)),
    ("model_Q8_0.gguf", _m("Q8_0", "model")),
    ("model-q8.0.gguf", _m("Q8_0", "model")),
    ("model Q6_K.gguf", _m("Q6_K", "model")),
    ("ggml-model-Q4_0.gguf", _m("Q4_0", "ggml-model")),
    ("tinyllama-1.1b-chat-v1.0.Q2_K.gguf", _m("Q2_K", "tinyllama-1.1b-chat-v1.0")),
    ("mmproj-model-f16.gguf", _m("F16", "mmproj-model")),
    ("org/repo/sub/file-Q6_K.gguf", _m("Q6_K", "file")),
    ("C:\\models\\file-Q6_K.gguf", _m("Q6_K", "file")),
    ("/data/dir-Q4_0/model-f16.gguf", _m("F16", "model")),
    # The last label-like token wins; "q4" alone is not a label at all.
    ("q4-something-Q8_0.gguf", _m("Q8_0", "q4-something")),
    ("q4_0-finetune-Q8_0.gguf", _m("Q8_0", "q4_0-finetune")),
    ("Llama-f16-to-Q5_K_M.gguf", _m("Q5_K_M", "Llama-f16-to")),
    # Longest match.
    ("model-Q3_K_L.gguf", _m("Q3_K_L", "model")),
    ("model-IQ4_XS.gguf", _m("IQ4_XS", "model")),
    ("model-IQ2_XXS.gguf", _m("IQ2_XXS", "model")),
    # Bare K bases mean the _M mix, as in llama-quantize.
    ("model-Q4_K.gguf", _m("Q4_K_M", "model")),
    ("model-q5_k.gguf", _m("Q5_K_M", "model")),
    ("model-Q3_K.gguf", _m("Q3_K_M", "model")),
    # Publishers' _L/_XL suffixes for upgraded embedding/output tensors.
    ("Qwen3-8B-Q4_K_L.gguf", _m("Q4_K_M", "Qwen3-8B")),
    ("Qwen3-8B-Q6_K_L.gguf", _m("Q6_K", "Qwen3-8B")),
    ("Qwen3-8B-UD-Q4_K_XL.gguf", _m("Q4_K_M", "Qwen3-8B-UD")),
    ("Qwen3-8B-Q3_K_XL.gguf", _m("Q3_K_L", "Qwen3-8B")),
    # Q3_K_XS was renamed IQ3_XS in llama.cpp, keeping the ftype id.
    ("mixtral-8x7b.Q3_K_XS.gguf", _m("IQ3_XS", "mixtral-8x7b")),
    # A label in the middle of the name.
    ("foo-Q4_K_M-bar.gguf", _m("Q4_K_M", "foo-bar")),
    ("gpt-oss-20b-mxfp4.gguf", _m("MXFP4_MOE", "gpt-oss-20b")),
    ("BitNet-b1.58-2B-4T-TQ1_0.gguf", _m("TQ1_0", "BitNet-b1.58-2B-4T")),
    ("Q4_K_M.gguf", _m("Q4_K_M", "")),
    ("model-Q4_K_M", _m("Q4_K_M", "model")),  # no extension
    ("MODEL-Q4_K_M.GGUF", _m("Q4_K_M", "MODEL")),
]


@pytest.mark.parametrize(("filename", "expected"), NAMES, ids=[n for n, _ in NAMES])
def test_parse_quant_label(filename: str, expected: QuantLabelMatch) -> None:
    assert parse_quant_label(filename) == expected


@pytest.mark.parametrize("filename", [n for n, _ in NAMES], ids=[n for n, _ in NAMES])
def test_parse_quant_label_ignores_case(filename: str) -> None:
    expected = parse_quant_label(filename)
    assert expected is not None
    for variant in (filename.upper(), filename.lower(), filename.swapcase()):
        got = parse_quant_label(variant)
        assert got is not None
        assert got.label == expected.label
        assert got.imatrix == expected.imatrix
        assert (got.shard_index, got.shard_count) == (expected.shard_index, expected.shard_count)
        assert got.stem.lower() == expected.stem.lower()


@pytest.mark.parametrize(
    "filename",
    [
        "stories260K.gguf",
        "model.gguf",
        "aq8_0x.gguf",
        "xQ4_K_M.gguf",
        "model-q4.gguf",
        "model-q8.gguf",
        "model-00001-of-00002.gguf",
        "Q8_0/model.gguf",
        "",
    ],
)
def test_parse_quant_label_without_label(filename: str) -> None:
    assert parse_quant_label(filename) is None


@pytest.mark.parametrize(
    "filename", ["model-Q4_K_M-00000-of-00003.gguf", "model-Q4_K_M-00004-of-00003.gguf"]
)
def test_impossible_shard_suffix_is_not_a_shard(filename: str) -> None:
    match = parse_quant_label(filename)
    assert match is not None
    assert match.label == "Q4_K_M"
    assert match.shard_index is None
    assert match.shard_count is None


def test_parsed_labels_are_always_in_the_table() -> None:
    for _, expected in NAMES:
        assert file_type_by_label(expected.label) is not None


# --- tensor histograms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_bytes", "label"),
    [
        ({"Q4_K": 3_900, "Q6_K": 900, "F32": 2}, "Q4_K_M"),
        ({"q4_K": 3_900, "q6_K": 900, "f32": 2}, "Q4_K_M"),  # ggml_type_name spelling
        ({"Q5_K": 5_000, "Q6_K": 700, "F32": 2}, "Q5_K_M"),
        ({"Q3_K": 3_000, "Q4_K": 900, "Q5_K": 100, "Q6_K": 300, "F32": 2}, "Q3_K_M"),
        ({"Q2_K": 1_000, "Q3_K": 900, "Q4_K": 300, "F32": 2}, "Q2_K"),
        ({"Q6_K": 6_000, "F32": 2}, "Q6_K"),
        ({"Q8_0": 8_000, "F32": 2}, "Q8_0"),
        ({"Q4_0": 4_000, "Q6_K": 600, "F32": 2}, "Q4_0"),
        ({"Q5_1": 5_000, "Q6_K": 600}, "Q5_1"),
        ({"F16": 14_000, "F32": 3}, "F16"),
        ({"BF16": 14_000, "F32": 3}, "BF16"),
        ({"F32": 10_000}, "F32"),
        ({"F32": 10_000, "I32": 5}, "F32"),
        ({"F32": 90_000, "Q4_K": 10}, "Q4_K_M"),  # norms and biases never decide
        ({"IQ2_XXS": 2_000, "Q2_K": 300, "Q5_K": 400, "F32": 2}, "IQ2_XXS"),
        ({"IQ3_S": 3_000, "IQ3_XXS": 900, "Q4_K": 200}, "IQ3_S"),
        ({"IQ4_XS": 4_000, "Q6_K": 600}, "IQ4_XS"),
        ({"IQ4_NL": 4_000, "Q8_0": 100}, "IQ4_NL"),
        ({"MXFP4": 10_000, "Q8_0": 1_500, "F32": 2}, "MXFP4_MOE"),
        ({"TQ1_0": 1_000, "Q4_K": 200}, "TQ1_0"),
        ({"Q1_0": 1_000, "Q8_0": 200}, "Q1_0"),
        ({"NVFP4": 4_000, "BF16": 900}, "NVFP4"),
    ],
)
def test_infer_file_type(type_bytes: Mapping[str, int], label: str) -> None:
    ft = infer_file_type(type_bytes)
    assert ft is not None
    assert ft.label == label


@pytest.mark.parametrize(
    "type_bytes", [{}, {"I32": 10}, {"F32": 0}, {"Q4_K": 0}, {"Q8_K": 5, "F64": 5}]
)
def test_infer_file_type_without_an_answer(type_bytes: Mapping[str, int]) -> None:
    assert infer_file_type(type_bytes) is None


def test_infer_file_type_breaks_ties_by_rank() -> None:
    ft = infer_file_type({"Q4_K": 100, "Q6_K": 100})
    assert ft is not None
    assert ft.label == "Q6_K"
    ft = infer_file_type({"Q6_K": 100, "Q4_K": 100})
    assert ft is not None
    assert ft.label == "Q6_K"


# --- against the installed llama.cpp ----------------------------------------------------------

# llama_ftype_name() spells a few types differently from the quantize option names.
_LLAMA_NAME_OVERRIDES = {
    "all F32": "F32",
    "MXFP4 MoE": "MXFP4_MOE",
    "IQ3_S mix - 3.66 bpw": "IQ3_M",
    "Q2_K - Medium": "Q2_K",
    "Q2_K - Small": "Q2_K_S",
}
_SIZE_WORDS = {"Small": "S", "Medium": "M", "Large": "L"}


def _label_from_llama_name(name: str) -> str:
    if name in _LLAMA_NAME_OVERRIDES:
        return _LLAMA_NAME_OVERRIDES[name]
    base, _, rest = name.partition(" - ")
    return f"{base}_{_SIZE_WORDS[rest]}" if rest in _SIZE_WORDS else base


def _llama_ftype_constants() -> dict[str, int]:
    import llama_cpp

    return {
        name: value
        for name, value in vars(llama_cpp).items()
        if name.startswith("LLAMA_FTYPE_") and name != "LLAMA_FTYPE_GUESSED"
    }


def test_every_llama_cpp_ftype_constant_is_in_the_table() -> None:
    constants = _llama_ftype_constants()
    assert len(constants) > 30
    for name, value in constants.items():
        label = name.removeprefix("LLAMA_FTYPE_MOSTLY_").removeprefix("LLAMA_FTYPE_ALL_")
        ft = file_type_by_id(value)
        assert ft is not None, name
        assert ft.label == label, name
    assert {ft.ftype for ft in FILE_TYPES} == set(constants.values())


def test_guessed_flag_matches_llama_cpp() -> None:
    import llama_cpp

    assert llama_cpp.LLAMA_FTYPE_GUESSED == GUESSED_FLAG


@pytest.mark.parametrize("ft", FILE_TYPES, ids=lambda ft: ft.label)
def test_llama_ftype_name_agrees(ft: FileType) -> None:
    import llama_cpp

    raw = llama_cpp.llama_ftype_name(ft.ftype)
    assert raw is not None
    assert _label_from_llama_name(raw.decode()) == ft.label


# Tensor type each file type is mostly stored in; a whole file can never average fewer bits
# than that block format, and the types without a published file measurement use exactly it.
_MAIN_TENSOR_TYPE = {
    "F32": "F32", "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q6_K": "Q6_K",
    "Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q5_1": "Q5_1", "Q5_0": "Q5_0", "Q4_K_M": "Q4_K",
    "Q4_K_S": "Q4_K", "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS", "Q4_1": "Q4_1", "NVFP4": "NVFP4",
    "Q4_0": "Q4_0", "MXFP4_MOE": "MXFP4", "Q3_K_L": "Q3_K", "Q3_K_M": "Q3_K", "IQ3_M": "IQ3_S",
    "IQ3_S": "IQ3_S", "IQ3_XS": "IQ3_S", "IQ3_XXS": "IQ3_XXS", "Q3_K_S": "Q3_K",
    "IQ2_M": "IQ2_S", "Q2_K": "Q2_K", "Q2_K_S": "Q2_K", "IQ2_S": "IQ2_S", "IQ2_XS": "IQ2_XS",
    "IQ2_XXS": "IQ2_XXS", "IQ1_M": "IQ1_M", "IQ1_S": "IQ1_S", "TQ2_0": "TQ2_0",
    "TQ1_0": "TQ1_0", "Q1_0": "Q1_0",
}  # fmt: skip
_BLOCK_RATE_ROWS = {"MXFP4_MOE", "NVFP4", "TQ1_0", "TQ2_0", "Q1_0"}


@pytest.mark.parametrize("label", sorted(_MAIN_TENSOR_TYPE))
def test_bits_per_weight_against_block_formats(label: str) -> None:
    import gguf

    tensor_type = gguf.GGMLQuantizationType[_MAIN_TENSOR_TYPE[label]]
    block_size, type_size = gguf.GGML_QUANT_SIZES[tensor_type]
    block_rate = type_size * 8 / block_size
    ft = _get(label)
    assert ft.bits_per_weight >= block_rate - 0.005
    if label in _BLOCK_RATE_ROWS:
        assert ft.bits_per_weight == pytest.approx(block_rate, abs=0.005)


@pytest.fixture(scope="module")
def tiny_f32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 8-layer llama GGUF in F32: enough structure for every quantization mix."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(0)
    n_embd, n_ff, n_layer, n_vocab, n_head = 256, 256, 8, 256, 4
    path = tmp_path_factory.mktemp("quant") / "tiny-f32.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(0)

    def matrix(name: str, rows: int, cols: int) -> None:
        writer.add_tensor(name, rng.standard_normal((rows, cols), dtype=np.float32) * 0.02)

    matrix("token_embd.weight", n_vocab, n_embd)
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    matrix("output.weight", n_vocab, n_embd)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            matrix(f"blk.{i}.{part}.weight", n_embd, n_embd)
        matrix(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.allow_log_errors  # llama.cpp logs the imatrix refusals at ERROR
@pytest.mark.parametrize(
    # llama_model_quantize cannot write NVFP4 at all ("invalid output file type"); such files
    # come from converters, so there is nothing to learn about imatrix from trying.
    "ft",
    [ft for ft in FILE_TYPES if ft.label != "NVFP4"],
    ids=lambda ft: ft.label,
)
def test_needs_imatrix_agrees_with_llama_model_quantize(ft: FileType, tiny_f32_model: Path) -> None:
    from desktop_app.core.errors import QuantizeError
    from desktop_app.core.quantize import quantize_gguf

    out = tiny_f32_model.with_name(f"tiny-{ft.label}.gguf")
    if ft.needs_imatrix:
        with pytest.raises(QuantizeError) as info:
            quantize_gguf(tiny_f32_model, out, ft.label, threads=1)
        assert "imatrix" in info.value.reason
        assert not out.exists()
    else:
        assert quantize_gguf(tiny_f32_model, out, ft.label, threads=1) == out
