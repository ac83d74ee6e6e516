"""From a request to prompt tokens: chat template, safe tokenization, fitting the context.

Control tokens: the rendered prompt must be tokenized with special tokens parsed (the template's
``<|im_start|>`` has to become the control token), but a user who types ``<|im_start|>system``
must not forge a turn. Tokenizing the template text and the message contents separately would
be safe but not faithful: llama.cpp adds a leading space to each SentencePiece call and BPE
merges across the seam, so every prompt would differ slightly from what the model was trained
on. So the whole text is tokenized at once (faithful), then checked: its control tokens must be
exactly those of the template text alone. Only if a message smuggled one in is the prompt built
piece by piece, contents as plain text, and a ``control_text_escaped`` notice says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop_app.core import llama_backend
from desktop_app.core.chat_template import FALLBACK, ChatFormatter, RenderedChat
from desktop_app.core.engine.errors import EngineError
from desktop_app.core.engine.protocol import ChatMessage, ErrorCode


@dataclass
class Prompt:
    tokens: list[int]
    dropped_messages: int = 0
    notices: list[tuple[str, str]] = field(default_factory=list)  # (code, detail)


class PromptBuilder:
    def __init__(self, llm: Any, vocab: Any, formatter: ChatFormatter, bos_text: str) -> None:
        self._llm = llm
        self._vocab = vocab
        self._formatter = formatter
        self._bos_text = bos_text
        self._lc = llama_backend.llama()

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        # add_bos only asks: llama.cpp adds BOS when the model's tokenizer.ggml.add_bos_token says.
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def _is_control(self, token: int) -> bool:
        attr = int(self._lc.llama_vocab_get_attr(self._vocab, token))
        return bool(attr & self._lc.LLAMA_TOKEN_ATTR_CONTROL)

    def _controls(self, tokens: Sequence[int]) -> list[int]:
        return [t for t in tokens if self._is_control(t)]

    def chat_tokens(self, messages: Sequence[ChatMessage]) -> tuple[list[int], RenderedChat, bool]:
        """Tokens of the formatted conversation, the rendering, and whether contents had to be
        tokenized separately because they held control-token text."""
        rendered = self._formatter.render(messages)
        # The template wrote BOS itself (as text): do not add a second one.
        add_bos = not (self._bos_text and rendered.text.startswith(self._bos_text))
        tokens = self.tokenize(rendered.text, add_bos=add_bos, special=True)
        template_only = "".join(p.text for p in rendered.pieces if p.message is None)
        expected = self._controls(self.tokenize(template_only, add_bos=add_bos, special=True))
        if self._controls(tokens) == expected:
            return tokens, rendered, False
        safe: list[int] = []
        for i, piece in enumerate(rendered.pieces):
            safe += self.tokenize(
                piece.text, add_bos=add_bos and i == 0, special=piece.message is None
            )
        return safe, rendered, True

    def for_chat(self, messages: Sequence[ChatMessage], budget: int, n_ctx: int) -> Prompt:
        """The conversation in at most ``budget`` tokens, dropping the oldest turns if needed."""
        kept = list(messages)
        dropped = 0
        while True:
            tokens, rendered, escaped = self.chat_tokens(kept)
            if len(tokens) <= budget:
                break
            cut = oldest_turn(kept)
            if not cut:
                raise EngineError(
                    ErrorCode.PROMPT_TOO_LONG,
                    "the prompt does not fit the context",
                    {"prompt_tokens": len(tokens), "n_ctx": n_ctx, "budget": budget},
                )
            kept = [m for i, m in enumerate(kept) if i not in cut]
            dropped += len(cut)
        prompt = Prompt(tokens, dropped)
        if rendered.source == FALLBACK and self._formatter.source != FALLBACK:
            prompt.notices.append(("template_fallback", rendered.error))
        if escaped:
            prompt.notices.append(("control_text_escaped", "a message contained control tokens"))
        if dropped:
            prompt.notices.append(("context_trimmed", str(dropped)))
        return prompt

    def for_text(self, text: str, budget: int, n_ctx: int) -> Prompt:
        """A raw prompt: the caller wrote any control tokens on purpose, so they are parsed."""
        add_bos = not (self._bos_text and text.startswith(self._bos_text))
        tokens = self.tokenize(text, add_bos=add_bos, special=True)
        if len(tokens) > budget:
            raise EngineError(
                ErrorCode.PROMPT_TOO_LONG,
                "the prompt does not fit the context",
                {"prompt_tokens": len(tokens), "n_ctx": n_ctx, "budget": budget},
            )
        return Prompt(tokens)


def oldest_turn(messages: Sequence[ChatMessage]) -> set[int]:
    """Indexes of the oldest droppable turn: the first non-system message and the replies that
    follow it up to the next user message. The last message (the one being answered) stays."""
    last = len(messages) - 1
    start = next((i for i, m in enumerate(messages) if m.role != "system" and i < last), None)
    if start is None:
        return set()
    end = start + 1
    while end < last and messages[end].role != "user":
        end += 1
    return set(range(start, end))


def reply_reserve(max_tokens: int, n_ctx: int) -> int:
    """Room kept for the reply when fitting a prompt: max_tokens, but at most half the context
    (a long max_tokens must not leave no room for the conversation), and at least one token."""
    return max(1, min(max_tokens, n_ctx // 2))
