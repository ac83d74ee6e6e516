"""Follow-up turns without a model: the history rules, the report's conversation, the cache
key and the conversation box (a model's text stays text)."""

from __future__ import annotations

from dataclasses import replace

from compare_data import make_result
from pytestqt.qtbot import QtBot

from desktop_app.core.compare.cache import cache_key
from desktop_app.core.compare.conversation import (
    Turn,
    can_follow_up,
    conversation_after,
    turns,
    with_follow_up,
)
from desktop_app.core.compare.report import report_html, report_json
from desktop_app.core.compare.results import CompareResult
from desktop_app.core.engine.protocol import ChatMessage
from desktop_app.ui.compare_documents import chat_document
from desktop_app.ui.widgets.compare_conversation import CompareConversation

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


def second_turn(result: CompareResult, earlier_reply: str = HOSTILE) -> CompareResult:
    """``result`` as the answer to a follow-up after one earlier turn."""
    messages = (
        ChatMessage("system", "Answer <briefly>."),
        ChatMessage("user", "First <question>?"),
        ChatMessage("assistant", earlier_reply),
        ChatMessage("user", "And <why>?"),
    )
    return replace(result, spec=replace(result.spec, messages=messages))


def test_history_is_the_reference_side_of_the_conversation() -> None:
    result = make_result()
    assert can_follow_up(result)
    history = conversation_after(result)
    assert history[-1] == ChatMessage("assistant", result.reference.text)
    assert result.reference.text != result.variants[2].text  # a variant said something else
    assert with_follow_up(history, "Then?") == (*history, ChatMessage("user", "Then?"))
    assert turns(with_follow_up(history, "Then?")) == [
        Turn(1, "Why is the sky blue?", result.reference.text),
        Turn(2, "Then?", None),
    ]


def test_no_follow_up_after_text_cancel_or_a_failed_reference() -> None:
    result = make_result()
    text = replace(result, spec=replace(result.spec, messages=None, text="Some text."))
    assert not can_follow_up(text) and conversation_after(text) == ()
    assert not can_follow_up(replace(result, cancelled=True))
    failed_ref = make_result(failed=0)  # F16, the reference, crashed
    assert failed_ref.reference.failed and not can_follow_up(failed_ref)
    assert can_follow_up(make_result(failed=2))  # a variant failing does not stop the talk
    silent = replace(result, variants=(replace(result.reference, text=""), *result.variants[1:]))
    assert not can_follow_up(silent)
    assert conversation_after(silent) == result.spec.messages  # no empty assistant turn


def test_cache_key_covers_the_whole_conversation() -> None:
    result = second_turn(make_result())
    other = second_turn(make_result(), earlier_reply="A different earlier reply")
    assert result.spec.messages is not None and other.spec.messages is not None
    assert result.spec.messages[-1] == other.spec.messages[-1]  # same latest question
    assert cache_key(result.spec, result.plan) != cache_key(other.spec, other.plan)
    assert cache_key(result.spec, result.plan) == cache_key(
        second_turn(make_result()).spec, result.plan
    )


def test_report_json_lists_the_conversation_and_keeps_its_keys() -> None:
    single = report_json(make_result())
    assert single["prompt"] == "Why is the sky blue?"
    assert single["conversation"] == [
        {"turn": 1, "role": "user", "content": "Why is the sky blue?"}
    ]
    data = report_json(second_turn(make_result()))
    documented = {"reference", "mode", "n_ctx", "input", "prompt", "cancelled", "variants"}
    assert documented <= set(data)
    assert data["prompt"] == "And <why>?"  # still the latest question
    assert data["conversation"] == [
        {"turn": 0, "role": "system", "content": "Answer <briefly>."},
        {"turn": 1, "role": "user", "content": "First <question>?"},
        {"turn": 1, "role": "assistant", "content": HOSTILE},
        {"turn": 2, "role": "user", "content": "And <why>?"},
    ]
    result = make_result()
    text = replace(result, spec=replace(result.spec, messages=None, text="Some text."))
    assert report_json(text)["conversation"] == []


def test_report_html_shows_earlier_turns_escaped() -> None:
    page = report_html(second_turn(make_result()))
    assert "<h2>Conversation so far</h2>" in page
    assert "Turn 1 · question" in page and "Turn 1 · reference (F16) reply" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "First &lt;question&gt;?" in page and "Answer &lt;briefly&gt;." in page
    assert "<h2>Prompt (turn 2)</h2>" in page and "And &lt;why&gt;?" in page
    single = report_html(make_result())
    assert "Conversation so far" not in single and "<h2>Prompt</h2>" in single


def test_conversation_box_numbers_turns_and_never_renders_markup(qtbot: QtBot) -> None:
    box = CompareConversation()
    qtbot.addWidget(box)
    box.show()
    messages = second_turn(make_result(), HOSTILE + "\n\n").spec.messages  # a reply ends "\n"
    assert messages is not None
    box.set_conversation(messages, "reference (F16)")
    assert box.isVisible() and box.toggle.text() == "Conversation (2 turns)"
    text = box.plain_text()
    assert text.splitlines() == [
        "System",
        "Answer <briefly>.",
        "",
        "Turn 1 · you",
        "First <question>?",
        "Turn 1 · reference (F16)",
        HOSTILE,
        "",
        "Turn 2 · you",
        "And <why>?",
    ]
    assert "bold" in box.text.document().toPlainText()
    assert not box.text.document().toHtml().count("<b>bold")  # stored as text, not as markup
    box.toggle.click()  # collapse
    assert not box.text.isVisible() and box.toggle.isVisible()
    box.toggle.click()
    assert box.text.isVisible()
    box.set_conversation((), "")
    assert not box.isVisible() and box.turns == []


def test_chat_document_carries_every_turn() -> None:
    messages = second_turn(make_result()).spec.messages
    assert messages is not None
    doc = chat_document("/m/ref.gguf", (*messages, ChatMessage("assistant", "Because.")))
    assert doc["conversation"]["system_prompt"] == "Answer <briefly>."
    assert doc["conversation"]["settings"] == {"from": "compare", "turns": 2}
    assert doc["conversation"]["title"] == "First <question>?"
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant", "user", "assistant"]
    assert doc["messages"][1]["content"] == HOSTILE
