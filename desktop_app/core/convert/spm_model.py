"""Read a SentencePiece ``tokenizer.model`` without protobuf or sentencepiece.

The file is a serialized ``sentencepiece.ModelProto``; only these fields matter (field numbers
from sentencepiece_model.proto)::

    ModelProto     { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
                     NormalizerSpec normalizer_spec = 3; }
    SentencePiece  { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
    TrainerSpec    { ModelType model_type = 3 [default UNIGRAM];
                     bool treat_whitespace_as_suffix = 24; bool byte_fallback = 35;
                     int32 unk_id = 40; int32 bos_id = 41; int32 eos_id = 42; int32 pad_id = 43; }
    NormalizerSpec { string name = 1; bool add_dummy_prefix = 3 [default true];
                     bool remove_extra_whitespaces = 4 [default true]; }

Piece types (NORMAL=1, UNKNOWN=2, CONTROL=3, USER_DEFINED=4, UNUSED=5, BYTE=6) equal
gguf.TokenType one to one. Every read is bounds-checked; anything malformed is a ValueError
(the caller turns it into a typed error). Unknown fields are skipped by wire type.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
_MAX_PIECES = 4_000_000


@dataclass(frozen=True)
class SpmModel:
    pieces: list[str]
    scores: list[float]
    types: list[int]
    model_type: str = "unigram"
    byte_fallback: bool = False
    treat_whitespace_as_suffix: bool = False
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    normalizer: str = ""
    special_ids: dict[str, int] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise ValueError("truncated varint")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("field runs past the end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def key(self) -> tuple[int, int]:
        tag = self.varint()
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("field number 0")
        return number, wire

    def skip(self, wire: int) -> None:
        if wire == 0:
            self.varint()
        elif wire == 1:
            self.take(8)
        elif wire == 2:
            self.take(self.varint())
        elif wire == 5:
            self.take(4)
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _int32(value: int) -> int:
    """A varint-encoded int32 (negative values are sign-extended to 64 bits)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def parse_spm_model(data: bytes) -> SpmModel:
    """Parse a serialized ModelProto; ValueError on malformed input."""
    reader = _Reader(data)
    pieces: list[str] = []
    scores: list[float] = []
    types: list[int] = []
    trainer: dict[str, int] = {}
    normalizer: dict[str, int | str] = {}
    while not reader.done():
        number, wire = reader.key()
        if number == 1 and wire == 2:
            piece, score, ptype = _parse_piece(reader.take(reader.varint()))
            pieces.append(piece)
            scores.append(score)
            types.append(ptype)
            if len(pieces) > _MAX_PIECES:
                raise ValueError("too many pieces")
        elif number == 2 and wire == 2:
            trainer = _parse_trainer(reader.take(reader.varint()))
        elif number == 3 and wire == 2:
            normalizer = _parse_normalizer(reader.take(reader.varint()))
        else:
            reader.skip(wire)
    if not pieces:
        raise ValueError("no pieces")
    # Proto defaults: unk 0, bos 1, eos 2, pad -1 (none); -1 disables any of them.
    specials: dict[str, int] = {}
    for name, default in (("unk", 0), ("bos", 1), ("eos", 2), ("pad", -1)):
        value = trainer.get(f"{name}_id", default)
        if 0 <= value < len(pieces):
            specials[name] = value
    return SpmModel(
        pieces=pieces,
        scores=scores,
        types=types,
        model_type=MODEL_TYPES.get(trainer.get("model_type", 1), "unknown"),
        byte_fallback=bool(trainer.get("byte_fallback", 0)),
        treat_whitespace_as_suffix=bool(trainer.get("treat_whitespace_as_suffix", 0)),
        add_dummy_prefix=bool(normalizer.get("add_dummy_prefix", 1)),
        remove_extra_whitespaces=bool(normalizer.get("remove_extra_whitespaces", 1)),
        normalizer=str(normalizer.get("name", "")),
        special_ids=specials,
    )


def _parse_piece(data: memoryview) -> tuple[str, float, int]:
    reader = _Reader(data)
    piece: str | None = None
    score = 0.0
    ptype = 1
    while not reader.done():
        number, wire = reader.key()
        if number == 1 and wire == 2:
            piece = bytes(reader.take(reader.varint())).decode("utf-8")
        elif number == 2 and wire == 5:
            (score,) = struct.unpack("<f", reader.take(4))
        elif number == 3 and wire == 0:
            ptype = reader.varint()
            if not 1 <= ptype <= 6:
                raise ValueError(f"unknown piece type {ptype}")
        else:
            reader.skip(wire)
    if piece is None:
        raise ValueError("piece without text")
    return piece, float(score), ptype


_TRAINER_FIELDS = {
    3: "model_type",
    24: "treat_whitespace_as_suffix",
    35: "byte_fallback",
    40: "unk_id",
    41: "bos_id",
    42: "eos_id",
    43: "pad_id",
}


def _parse_trainer(data: memoryview) -> dict[str, int]:
    reader = _Reader(data)
    out: dict[str, int] = {}
    while not reader.done():
        number, wire = reader.key()
        if number in _TRAINER_FIELDS and wire == 0:
            out[_TRAINER_FIELDS[number]] = _int32(reader.varint())
        else:
            reader.skip(wire)
    return out


def _parse_normalizer(data: memoryview) -> dict[str, int | str]:
    reader = _Reader(data)
    out: dict[str, int | str] = {}
    while not reader.done():
        number, wire = reader.key()
        if number == 1 and wire == 2:
            out["name"] = bytes(reader.take(reader.varint())).decode("utf-8", errors="replace")
        elif number == 3 and wire == 0:
            out["add_dummy_prefix"] = reader.varint()
        elif number == 4 and wire == 0:
            out["remove_extra_whitespaces"] = reader.varint()
        else:
            reader.skip(wire)
    return out
