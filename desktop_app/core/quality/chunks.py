"""How a long text is cut for scoring, the way llama-perplexity cuts it.

The text's tokens (with BOS first when the model adds one) are split into ``n_ctx``-token chunks;
a trailing remainder shorter than a chunk is not scored. In each chunk the first token is replaced
by BOS (when the model adds one), and only positions ``n_ctx // 2`` to ``n_ctx - 2`` are scored
(each predicting the token after it), so every scored token has at least half a context of
history. A short text (a Compare reply) is one chunk scored from where the reply begins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    tokens: tuple[int, ...]
    first: int  # the first scored position: its logits predict tokens[first + 1]

    @property
    def n_scored(self) -> int:
        return max(0, len(self.tokens) - 1 - self.first)


class TextTooShortError(ValueError):
    def __init__(self, n_tokens: int, needed: int) -> None:
        super().__init__(f"{n_tokens} tokens; at least {needed} are needed")
        self.n_tokens = n_tokens
        self.needed = needed


def perplexity_chunks(
    tokens: Sequence[int], n_ctx: int, *, bos: int | None, max_chunks: int | None = None
) -> list[Chunk]:
    """llama-perplexity's chunks of ``tokens`` (already tokenized with BOS if the model adds
    one). ``bos``: the BOS id to put first in each chunk, or None when the model adds none."""
    if n_ctx < 4:
        raise ValueError("n_ctx must be at least 4")
    n_chunks = len(tokens) // n_ctx
    if max_chunks is not None:
        n_chunks = min(n_chunks, max_chunks)
    if n_chunks < 1:
        raise TextTooShortError(len(tokens), n_ctx)
    chunks = []
    for i in range(n_chunks):
        part = list(tokens[i * n_ctx : (i + 1) * n_ctx])
        if bos is not None:
            part[0] = bos
        chunks.append(Chunk(tuple(part), n_ctx // 2))
    return chunks


def continuation_chunk(prompt: Sequence[int], continuation: Sequence[int]) -> Chunk:
    """Score ``continuation`` given ``prompt``: the positions from the prompt's last token on."""
    if not prompt:
        raise ValueError("the prompt must hold at least one token")
    return Chunk(tuple(prompt) + tuple(continuation), len(prompt) - 1)
