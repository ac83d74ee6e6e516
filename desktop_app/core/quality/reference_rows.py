"""The reference model's log-probabilities, saved so variants can be compared against them.

Variants run in other worker processes, often after the reference has been unloaded (when they
do not all fit at once), so the reference's rows go to disk: a ``.npy`` file of float32
log-softmax rows (rows x vocabulary, memory-mapped: written and read block by block) plus a
small JSON record that ties it to the exact token sequence and vocabulary. float32 rather than
llama-perplexity's 16-bit packing: the KL divergence of a Q8_0 variant is ~1e-4 nats, close to
what 16-bit rounding of the reference would add. Disk use is rows x vocabulary x 4 bytes, one
file per scored chunk; the caller deletes them when the comparison is done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from desktop_app.core.atomic import atomic_write_json

F32 = npt.NDArray[np.float32]


class ReferenceMismatchError(ValueError):
    """The saved rows do not belong to this token sequence or this vocabulary."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(f"{what}: {detail}" if detail else what)
        self.what = what  # "vocabulary", "tokens", "file"


def tokens_digest(tokens: Sequence[int]) -> str:
    return hashlib.sha256(np.asarray(tokens, dtype=np.int32).tobytes()).hexdigest()


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def row_bytes(n_rows: int, n_vocab: int) -> int:
    return int(n_rows) * int(n_vocab) * 4


@dataclass(frozen=True)
class RowsMeta:
    n_rows: int
    n_vocab: int
    vocab_digest: str
    tokens_digest: str
    first: int


def create_rows(path: Path, meta: RowsMeta) -> F32:
    """A writable memmap for ``meta.n_rows`` rows; the record is written by ``finish_rows``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path(path).unlink(missing_ok=True)  # no record until the rows are complete
    rows: F32 = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(meta.n_rows, meta.n_vocab)
    )
    return rows


def finish_rows(path: Path, rows: F32, meta: RowsMeta) -> None:
    """Flush the rows, then write the record: a record exists only for complete rows."""
    flush = getattr(rows, "flush", None)
    if flush is not None:
        flush()
    # Scratch data for one comparison: atomic (never a half record), not worth an fsync.
    atomic_write_json(meta_path(path), meta.__dict__, durable=False)


def open_rows(path: Path, *, n_vocab: int, vocab_digest: str, tokens: Sequence[int]) -> F32:
    """The saved rows for ``tokens``; raises ReferenceMismatchError when they do not match."""
    try:
        raw = json.loads(meta_path(path).read_text(encoding="utf-8"))
        meta = RowsMeta(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise ReferenceMismatchError("file", str(exc)) from exc
    if meta.n_vocab != n_vocab or meta.vocab_digest != vocab_digest:
        raise ReferenceMismatchError(
            "vocabulary", f"reference has {meta.n_vocab} tokens, this model {n_vocab}"
        )
    if meta.tokens_digest != tokens_digest(tokens):
        raise ReferenceMismatchError("tokens", "the text scored differs from the reference's")
    try:
        rows: F32 = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ReferenceMismatchError("file", str(exc)) from exc
    if rows.shape != (meta.n_rows, meta.n_vocab) or rows.dtype != np.float32:
        raise ReferenceMismatchError("file", f"shape {rows.shape} {rows.dtype}")
    return rows


def remove_rows(path: Path) -> None:
    for p in (path, meta_path(path)):
        p.unlink(missing_ok=True)
