"""Pure parts of the engine: stop-string holding, context trimming rules, request state."""

from __future__ import annotations

import pytest

from desktop_app.core.engine.generation import StopBuffer
from desktop_app.core.engine.prompt import oldest_turn, reply_reserve
from desktop_app.core.engine.protocol import ChatMessage
from desktop_app.core.engine.session import RequestState


def feed(buffer: StopBuffer, chunks: list[str]) -> tuple[list[str], bool]:
    out = []
    for chunk in chunks:
        text, stopped = buffer.push(chunk)
        out.append(text)
        if stopped:
            return out, True
    out.append(buffer.flush())
    return out, False


def test_no_stops_passes_text_through() -> None:
    assert feed(StopBuffer(()), ["a", "b"]) == (["a", "b", ""], False)


def test_stop_string_split_across_tokens_is_held_then_cut() -> None:
    out, stopped = feed(StopBuffer(["###"]), ["Hello #", "#", "# rest"])
    assert stopped
    assert out == ["Hello ", "", ""]


def test_false_alarm_prefix_is_released() -> None:
    out, stopped = feed(StopBuffer(["###"]), ["a #", "#b", "c"])
    assert not stopped
    assert "".join(out) == "a ##bc"
    assert out[0] == "a " and out[1] == "##b"


def test_earliest_of_several_stops_wins() -> None:
    out, stopped = feed(StopBuffer(["END", "\n\n"]), ["one\n\ntwo END"])
    assert stopped and out == ["one"]


def test_held_text_is_flushed_at_the_end() -> None:
    out, stopped = feed(StopBuffer(["STOP"]), ["abc ST"])
    assert not stopped and out == ["abc ", "ST"]


def test_empty_stop_strings_are_ignored() -> None:
    assert feed(StopBuffer(["", "x"]), ["ab"]) == (["ab", ""], False)


def msgs(*roles: str) -> list[ChatMessage]:
    return [ChatMessage(r, f"{r}{i}") for i, r in enumerate(roles)]


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (("system", "user", "assistant", "user"), {1, 2}),
        (("user", "assistant", "assistant", "user", "assistant", "user"), {0, 1, 2}),
        (("system", "user"), set()),
        (("user",), set()),
        (("system", "assistant", "user", "assistant", "user"), {1}),
        ((), set()),
    ],
)
def test_oldest_turn(roles: tuple[str, ...], expected: set[int]) -> None:
    assert oldest_turn(msgs(*roles)) == expected


def test_reply_reserve_bounds() -> None:
    assert reply_reserve(512, 4096) == 512
    assert reply_reserve(4096, 4096) == 2048
    assert reply_reserve(0, 4096) == 1


def test_request_state_cancel_rules() -> None:
    state = RequestState()
    state.cancel(5)  # not started yet: remembered
    state.begin(3)
    assert not state.cancelled()
    state.cancel(0)
    assert state.cancelled()
    state.end(3)
    state.begin(5)
    assert state.cancelled()
    state.end(5)
    state.cancel(4)  # already past: ignored, not kept forever
    state.begin(6)
    assert not state.cancelled()
    assert state.reserve_generation(6)
    assert not state.reserve_generation(7)
    state.end(6)
    assert state.reserve_generation(8)
