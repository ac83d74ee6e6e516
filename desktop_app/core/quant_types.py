"""The llama.cpp file types (``llama_ftype``) QuantDesk knows, and how to recognise them.

This module is plain data plus string handling. It deliberately does not import ``llama_cpp``:
that import loads the native library, and the table has to be usable (for sorting, labels,
file-name parsing) before or without a working backend. The unit tests cross-check every id
against the installed ``llama_cpp`` so the two cannot drift apart silently.

Three ways in:

* ``file_type_by_id`` for the ``general.file_type`` key of a GGUF header,
* ``file_type_by_label`` for user input and quantize options ("q4_k_m", "FP16"),
* ``parse_quant_label`` for file names as published on model hubs,

and ``infer_file_type`` for headers that lack ``general.file_type`` altogether.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FILE_TYPES",
    "GUESSED_FLAG",
    "FileType",
    "QuantFamily",
    "QuantLabelMatch",
    "file_type_by_id",
    "file_type_by_label",
    "infer_file_type",
    "parse_quant_label",
]

# llama.cpp ORs this into ``general.file_type`` when it had to guess the type while loading a
# file that did not record one (LLAMA_FTYPE_GUESSED); it is not part of the type itself.
GUESSED_FLAG = 1024


class QuantFamily(enum.StrEnum):
    """Broad storage scheme; the UI groups and colours types by it."""

    FLOAT = "float"  # unquantized: F32, F16, BF16
    LEGACY = "legacy"  # the original fixed-block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
    K = "k"  # k-quants with 256-weight super-blocks and per-tensor mixes
    IQ = "iq"  # i-quants: lattice/codebook and non-linear formats
    TERNARY = "ternary"  # TQ1_0, TQ2_0, only useful for models trained with ternary weights
    MX = "mx"  # 4-bit floating-point microscaling formats (MXFP4, NVFP4)
    OTHER = "other"


@dataclass(frozen=True)
class FileType:
    """One ``llama_ftype``: what a whole GGUF file is called after its dominant tensor format.

    ``bits_per_weight`` is a nominal planning figure, not a property of any particular file;
    see the comment above ``FILE_TYPES``. ``rank`` orders types by expected output quality
    (higher is better) and is only meaningful for comparing two types, never as a score.
    ``needs_imatrix`` means llama.cpp refuses to produce the type without an importance
    matrix; ``imatrix_recommended`` is True for those and also for types that still work
    without one but lose clearly more quality.
    """

    ftype: int
    label: str
    bits_per_weight: float
    family: QuantFamily
    needs_imatrix: bool
    imatrix_recommended: bool
    note: str
    rank: int


def _ft(
    ftype: int,
    label: str,
    bpw: float,
    family: QuantFamily,
    rank: int,
    note: str,
    *,
    needs: bool = False,
    recommended: bool = False,
) -> FileType:
    # Requiring an imatrix implies recommending one; deriving it here keeps the table rows
    # from contradicting each other.
    return FileType(
        ftype=ftype,
        label=label,
        bits_per_weight=bpw,
        family=family,
        needs_imatrix=needs,
        imatrix_recommended=needs or recommended,
        note=note,
        rank=rank,
    )


_F = QuantFamily

# Ordered best quality first, which is also descending ``rank``.
#
# bits_per_weight: nominal, whole-file figures for planning ("will this fit?") before a file
# exists. QuantDesk computes the real bpw of an actual file from its tensor sizes, so these
# numbers should not be presented as a measurement of any file. To keep the types comparable
# with each other they come from one model wherever possible: llama.cpp's measurements of
# Llama-3.1-8B (tools/quantize/README.md), which include the embedding and output tensors a
# file really carries. Q3_K_M and the legacy Q4_0/Q4_1/Q5_0/Q5_1 are missing from that table
# and were converted from the Llama-3-8B file sizes llama-quantize lists (GiB * 2^33 / 8.03e9).
# F32/F16/BF16 are exact. MXFP4_MOE, NVFP4, TQ1_0, TQ2_0, Q1_0 and Q2_0 have no published
# whole-file measurement, so they carry the bare block-format rate; real files are somewhat
# larger because llama.cpp keeps some tensors at higher precision.
#
# rank: ordered by the KL divergence against F16 in llama.cpp's Llama-3-8B perplexity table
# (tools/perplexity/README.md). Types absent from it are placed by judgement: NVFP4 and
# MXFP4_MOE near the legacy 4-bit formats, and the ternary/1-bit/2-bit-plain formats at the
# bottom because on ordinary models they are unusable (on models trained for them they are
# the native format, and the choice among quants does not arise).
#
# needs_imatrix: checked against llama_model_quantize in the llama.cpp that llama-cpp-python
# 0.3.36 ships. It refuses whenever a file type would store any tensor other than the token
# embedding/output as IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S or IQ3_XXS, or Q2_K within a
# Q2_K_S file; that includes IQ2_M (stored mostly as IQ2_S), IQ3_XXS and IQ3_XS (whose
# attention Q/K and middle feed-forward tensors are IQ3_XXS).
FILE_TYPES: tuple[FileType, ...] = (
    _ft(0, "F32", 32.0, _F.FLOAT, 360,
        "Full 32-bit precision; twice the size of 16-bit for no practical gain."),
    _ft(32, "BF16", 16.0, _F.FLOAT, 350,
        "16-bit brain float, the precision most recent models were trained in."),
    _ft(1, "F16", 16.0, _F.FLOAT, 340,
        "16-bit half precision; the lossless reference the quantized types are measured against."),
    _ft(7, "Q8_0", 8.50, _F.LEGACY, 330,
        "Practically indistinguishable from 16-bit; about half its size."),
    _ft(18, "Q6_K", 6.56, _F.K, 320,
        "Near-lossless; the safe choice when Q8_0 is too big."),
    _ft(17, "Q5_K_M", 5.70, _F.K, 310,
        "Very small quality loss; a good step up from Q4_K_M when it fits."),
    _ft(16, "Q5_K_S", 5.57, _F.K, 300,
        "A little smaller than Q5_K_M, with a little more loss."),
    _ft(9, "Q5_1", 6.04, _F.LEGACY, 290,
        "Older 5-bit format; Q5_K_M is both smaller and better."),
    _ft(8, "Q5_0", 5.57, _F.LEGACY, 280,
        "Older 5-bit format; Q5_K_S gives better quality at the same size."),
    _ft(15, "Q4_K_M", 4.89, _F.K, 270,
        "The usual sweet spot: good quality at about a third of 16-bit size."),
    _ft(14, "Q4_K_S", 4.67, _F.K, 260,
        "Slightly smaller than Q4_K_M, with slightly more loss."),
    _ft(25, "IQ4_NL", 4.68, _F.IQ, 250,
        "Non-linear 4-bit; close to Q4_K_S, best made with an importance matrix.",
        recommended=True),
    _ft(30, "IQ4_XS", 4.46, _F.IQ, 240,
        "The smallest 4-bit type; near Q4_K_S quality in less space.",
        recommended=True),
    _ft(3, "Q4_1", 5.11, _F.LEGACY, 230,
        "Older 4-bit format; bigger than Q4_K_M and clearly worse."),
    _ft(39, "NVFP4", 4.50, _F.MX, 220,
        "4-bit float format for recent NVIDIA GPUs; mainly for models published in it."),
    _ft(2, "Q4_0", 4.64, _F.LEGACY, 210,
        "Older 4-bit format; fast on some CPUs but below Q4_K_M in quality."),
    _ft(38, "MXFP4_MOE", 4.25, _F.MX, 200,
        "4-bit float experts with 8-bit shared weights; the native format of gpt-oss."),
    _ft(13, "Q3_K_L", 4.30, _F.K, 190,
        "The largest 3-bit K-quant; for when 4-bit does not quite fit."),
    _ft(12, "Q3_K_M", 4.00, _F.K, 180,
        "Medium 3-bit; noticeable loss but usually still coherent."),
    _ft(27, "IQ3_M", 3.76, _F.IQ, 170,
        "3-bit i-quant; about as good as Q3_K_M in less space.",
        recommended=True),
    _ft(26, "IQ3_S", 3.66, _F.IQ, 160,
        "3-bit i-quant, a step below IQ3_M.",
        recommended=True),
    _ft(22, "IQ3_XS", 3.50, _F.IQ, 150,
        "Small 3-bit i-quant; clear quality loss.",
        needs=True),
    _ft(23, "IQ3_XXS", 3.25, _F.IQ, 140,
        "The smallest 3-bit i-quant; clear quality loss.",
        needs=True),
    _ft(11, "Q3_K_S", 3.64, _F.K, 130,
        "The smallest 3-bit K-quant; an IQ3 type is usually better for the size.",
        recommended=True),
    _ft(29, "IQ2_M", 2.93, _F.IQ, 120,
        "The best 2-bit type; heavy loss, for when nothing larger fits.",
        needs=True),
    _ft(10, "Q2_K", 3.16, _F.K, 110,
        "Smallest K-quant; noticeable quality loss, for when nothing else fits.",
        recommended=True),
    _ft(21, "Q2_K_S", 2.97, _F.K, 100,
        "A smaller Q2_K that loses more; only worth it on large models.",
        needs=True),
    _ft(28, "IQ2_S", 2.74, _F.IQ, 90,
        "About 2.5 bits per weight; heavy loss, sensible only for large models.",
        needs=True),
    _ft(20, "IQ2_XS", 2.59, _F.IQ, 80,
        "About 2.3 bits per weight; heavy loss, sensible only for large models.",
        needs=True),
    _ft(19, "IQ2_XXS", 2.38, _F.IQ, 70,
        "About 2 bits per weight; severe loss except on very large models.",
        needs=True),
    _ft(31, "IQ1_M", 2.15, _F.IQ, 60,
        "Under 2 bits per weight; output is badly degraded on most models.",
        needs=True),
    _ft(24, "IQ1_S", 2.00, _F.IQ, 50,
        "The smallest i-quant; expect badly degraded output.",
        needs=True),
    _ft(41, "Q2_0", 2.25, _F.OTHER, 40,
        "Plain 2-bit format for models trained for it; ruins ordinary models."),
    _ft(37, "TQ2_0", 2.06, _F.TERNARY, 30,
        "Ternary format for models trained with ternary weights; ruins ordinary models."),
    _ft(36, "TQ1_0", 1.69, _F.TERNARY, 20,
        "Tighter-packed ternary format; only for models trained with ternary weights."),
    _ft(40, "Q1_0", 1.125, _F.OTHER, 10,
        "1-bit format for models trained with binary weights; ruins ordinary models."),
)  # fmt: skip

_BY_ID: dict[int, FileType] = {ft.ftype: ft for ft in FILE_TYPES}
_BY_LABEL: dict[str, FileType] = {ft.label: ft for ft in FILE_TYPES}

# Other spellings seen in quantize options and file names. A bare K base means the _M mix
# because llama-quantize treats "Q3_K", "Q4_K" and "Q5_K" that way; MXFP4 has only one ftype.
_ALIASES: dict[str, str] = {
    "FP32": "F32",
    "FP16": "F16",
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "MXFP4": "MXFP4_MOE",
}

# Spellings only file names use: publishers mark K-quants whose embedding and output tensors
# were kept at higher precision with an _L/_XL suffix (bartowski, unsloth "UD-"). The header of
# such a file records the mix it was built from, approximated here; none of these are
# llama-quantize options, so ``file_type_by_label`` does not accept them.
_NAME_ALIASES: dict[str, str] = {
    "Q2_K_L": "Q2_K",
    "Q2_K_XL": "Q2_K",
    "Q3_K_XL": "Q3_K_L",
    # llama.cpp's ftype 22 was called Q3_K_XS until it was renamed IQ3_XS; old files keep it.
    "Q3_K_XS": "IQ3_XS",
    "Q4_K_L": "Q4_K_M",
    "Q4_K_XL": "Q4_K_M",
    "Q5_K_L": "Q5_K_M",
    "Q5_K_XL": "Q5_K_M",
    "Q6_K_L": "Q6_K",
    "Q6_K_XL": "Q6_K",
    "Q8_K_XL": "Q8_0",
}

# Separators treated as equivalent inside a label: file names use all of them ("q4-k-m").
_SEP_RUN = re.compile(r"[-_. ]+")


def _canonical_label(text: str, *, from_name: bool = False) -> str | None:
    key = _SEP_RUN.sub("_", text.strip().upper()).strip("_")
    key = _ALIASES.get(key, key)
    if from_name:
        key = _NAME_ALIASES.get(key, key)
    return key if key in _BY_LABEL else None


def file_type_by_label(label: str) -> FileType | None:
    """Look a type up by name: any case, ``-``/``.``/space for ``_``, and common aliases."""
    canonical = _canonical_label(label)
    return _BY_LABEL[canonical] if canonical is not None else None


def file_type_by_id(ftype: int) -> FileType | None:
    """Look a type up by ``llama_ftype`` id, ignoring llama.cpp's "guessed" flag.

    Returns None for ids llama.cpp retired (4, 5, 6, 33-35) or never defined.
    """
    if ftype < 0:
        return None
    return _BY_ID.get(ftype & ~GUESSED_FLAG)


# --- file names -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantLabelMatch:
    """What a GGUF file name says about its quantization.

    ``imatrix`` reflects only a marker in the name ("i1", "imat", "imatrix"); a file can be
    imatrix-made without saying so. ``stem`` is the rest of the name, suitable for grouping
    the quants of one model.
    """

    label: str
    shard_index: int | None
    shard_count: int | None
    imatrix: bool
    stem: str


_SEPARATORS = "-_. "


def _label_pattern() -> re.Pattern[str]:
    spellings = [*_BY_LABEL, *_ALIASES, *_NAME_ALIASES]
    # Longest first so the alternation prefers Q4_K_M over Q4_K and IQ4_XS over shorter ones.
    spellings.sort(key=len, reverse=True)
    alternatives = "|".join(
        "[-_.]".join(re.escape(part) for part in s.split("_")) for s in spellings
    )
    # Lookarounds instead of \b: "_" counts as a word character for \b, yet is the most common
    # separator around a label; an adjacent letter or digit, though, means it is part of
    # another word ("aq8_0x").
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)


_LABEL_RE = _label_pattern()
_IMATRIX_RE = re.compile(r"(?<![A-Za-z0-9])(?:i1|imat|imatrix)(?![A-Za-z0-9])", re.IGNORECASE)
# llama.cpp's split naming is "<prefix>-00001-of-00003.gguf"; other tools vary the padding.
_SHARD_RE = re.compile(r"(?:^|[-_. ])(\d{1,5})-of-(\d{1,5})$", re.IGNORECASE)
_GGUF_SUFFIX_RE = re.compile(r"\.gguf$", re.IGNORECASE)


def _cut(text: str, start: int, end: int) -> str:
    """Remove ``text[start:end]`` and mend the separators around the hole."""
    left, right = text[:start], text[end:]
    kept_left, kept_right = left.rstrip(_SEPARATORS), right.lstrip(_SEPARATORS)
    if kept_left and kept_right:
        # Reuse the separator that stood before the removed token so "a-Q4_K_M-b" becomes
        # "a-b" rather than "ab" or "a--b".
        if len(kept_left) < len(left):
            joiner = left[len(kept_left)]
        elif len(kept_right) < len(right):
            joiner = right[0]
        else:
            joiner = "-"
        return kept_left + joiner + kept_right
    return kept_left or kept_right


def parse_quant_label(filename: str) -> QuantLabelMatch | None:
    """Find the quantization label in a file name or path, or None if it names none.

    Only the last path component counts (either slash style). When several label-like tokens
    occur, the last one wins, since model names sometimes start with one ("q4-...-Q8_0").
    """
    name = re.split(r"[\\/]", filename)[-1]
    name = _GGUF_SUFFIX_RE.sub("", name)

    shard_index: int | None = None
    shard_count: int | None = None
    shard = _SHARD_RE.search(name)
    if shard is not None:
        index, count = int(shard.group(1)), int(shard.group(2))
        # "00000-of-00003" or "4-of-3" is not a split suffix llama.cpp would write.
        if 1 <= index <= count:
            shard_index, shard_count = index, count
            name = name[: shard.start()]

    matches = list(_LABEL_RE.finditer(name))
    if not matches:
        return None
    last = matches[-1]
    label = _canonical_label(last.group(0), from_name=True)
    if label is None:  # pragma: no cover - the pattern is built from the same spellings
        return None

    stem = _cut(name, last.start(), last.end())
    markers = list(_IMATRIX_RE.finditer(stem))
    for marker in reversed(markers):  # from the right so earlier offsets stay valid
        stem = _cut(stem, marker.start(), marker.end())

    return QuantLabelMatch(
        label=label,
        shard_index=shard_index,
        shard_count=shard_count,
        imatrix=bool(markers),
        stem=stem.strip(_SEPARATORS),
    )


# --- tensor histograms ------------------------------------------------------------------------

# ggml tensor type name -> file type label. K base types map to the mix llama-quantize uses
# by default for them; tensor types with no file type of their own (Q8_K, I32, F64...) are
# absent and get ignored.
_TENSOR_TYPE_TO_LABEL: dict[str, str] = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q8_0": "Q8_0",
    "Q2_K": "Q2_K",
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "Q6_K": "Q6_K",
    "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M",
    "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_S",
    "IQ3_XXS": "IQ3_XXS",
    "IQ3_S": "IQ3_S",
    "IQ4_NL": "IQ4_NL",
    "IQ4_XS": "IQ4_XS",
    "TQ1_0": "TQ1_0",
    "TQ2_0": "TQ2_0",
    "MXFP4": "MXFP4_MOE",
    "NVFP4": "NVFP4",
    "Q1_0": "Q1_0",
    "Q2_0": "Q2_0",
}


def infer_file_type(type_bytes: Mapping[str, int]) -> FileType | None:
    """Guess the file type from bytes per ggml tensor type, for headers without one.

    F32 is ignored unless nothing else is present, because quantized files keep their norm
    and bias vectors in F32. Otherwise the type holding the most bytes decides. Mixes that
    differ only in which tensors get upgraded (Q4_K_S vs Q4_K_M, IQ3_XS vs IQ3_S) cannot be
    told apart this way; the default mix for the dominant type is returned.
    """
    totals: dict[str, int] = {}
    for type_name, size in type_bytes.items():
        label = _TENSOR_TYPE_TO_LABEL.get(type_name.strip().upper())
        if label is not None and size > 0:
            totals[label] = totals.get(label, 0) + size
    quantized = {label: size for label, size in totals.items() if label != "F32"}
    if quantized:
        # Rank breaks exact ties so the answer does not depend on mapping order.
        best = max(quantized, key=lambda label: (quantized[label], _BY_LABEL[label].rank))
        return _BY_LABEL[best]
    return _BY_LABEL["F32"] if "F32" in totals else None
