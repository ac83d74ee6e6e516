"""Follow-up turns in a comparison: every pane is asked the same question with the same history.

The history is the reference's side of the conversation: each earlier question and the
*reference's* reply to it. A variant that answered differently is still shown the reference's
reply as its own last turn, so the next replies again differ only because of the weights, and
the reference's reply stays the text every variant is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.compare.results import CompareResult
from desktop_app.core.engine.protocol import ChatMessage


@dataclass(frozen=True)
class Turn:
    number: int  # 1-based
    question: str
    reply: str | None  # the reference's reply; None while the turn is still being answered


def can_follow_up(result: CompareResult) -> bool:
    """A chat-mode run that ran to the end with a reply from the reference."""
    ref = result.reference
    return (
        result.spec.messages is not None
        and not result.cancelled
        and not ref.failed
        and bool(ref.text)
    )


def conversation_after(result: CompareResult) -> tuple[ChatMessage, ...]:
    """The messages of ``result`` followed by the reference's reply (what a follow-up extends,
    and what Chat receives). Text mode has no conversation: ``()``."""
    if result.spec.messages is None:
        return ()
    reply = result.reference.text
    tail = (ChatMessage("assistant", reply),) if reply else ()
    return (*result.spec.messages, *tail)


def with_follow_up(history: tuple[ChatMessage, ...], question: str) -> tuple[ChatMessage, ...]:
    """The next comparison's messages: the whole history, then the new question."""
    return (*history, ChatMessage("user", question))


def system_prompt(messages: tuple[ChatMessage, ...]) -> str:
    return next((m.content for m in messages if m.role == "system"), "")


def turns(messages: tuple[ChatMessage, ...]) -> list[Turn]:
    """Question and reply pairs, numbered; a trailing question has no reply yet."""
    out: list[Turn] = []
    for m in messages:
        if m.role == "user":
            out.append(Turn(len(out) + 1, m.content, None))
        elif m.role == "assistant" and out and out[-1].reply is None:
            last = out[-1]
            out[-1] = Turn(last.number, last.question, m.content)
    return out
