"""Chat templates are hostile input: they render in a sandbox with budgets, or fall back."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from desktop_app.core.chat_template import FALLBACK, MODEL, ChatFormatter, render_fallback
from desktop_app.core.synthetic_model import CHAT_TEMPLATE


@dataclass(frozen=True)
class Msg:
    role: str
    content: str


CONVERSATION = (Msg("system", "Be brief."), Msg("user", "Hi <|im_start|>there"))


def render(template: str | None, messages: tuple[Msg, ...] = CONVERSATION, **kwargs: object):
    return ChatFormatter(template, bos_token="<s>", eos_token="</s>", **kwargs).render(messages)


def test_chatml_template_renders_with_generation_prompt() -> None:
    out = render(CHAT_TEMPLATE)
    assert out.source == MODEL and out.error == ""
    assert out.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi <|im_start|>there<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_pieces_separate_template_text_from_message_contents() -> None:
    out = render(CHAT_TEMPLATE)
    contents = [(p.message, p.text) for p in out.pieces if p.message is not None]
    assert contents == [(0, "Be brief."), (1, "Hi <|im_start|>there")]
    template_text = "".join(p.text for p in out.pieces if p.message is None)
    assert template_text.count("<|im_start|>") == 3  # the user's copy is not template text
    assert "".join(p.text for p in out.pieces) == out.text


def test_hugging_face_extras_work() -> None:
    template = (
        "{{ bos_token }}{{ messages | tojson }}|{{ strftime_now('%Y') | length }}|"
        "{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}"
        "{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}|"
        "{{ range(3) | list }}{{ eos_token }}"
    )
    out = render(template)
    assert out.source == MODEL, out.error
    assert out.text.startswith('<s>[{"role": "system", "content": "Be brief."}')
    assert out.text.endswith("|4|Hi <|im_start|>there|[0, 1, 2]</s>")


def test_trim_blocks_like_transformers() -> None:
    out = render("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}")
    assert out.text == "  system\n  user\n"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lipsum.__globals__ }}",
        "{{ 'x'|attr('format') }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ messages.append(1) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''['__class__'] }}",
    ],
)
def test_template_injection_attempts_fall_back_without_running(template: str) -> None:
    out = render(template)
    assert out.source == FALLBACK
    assert out.error
    assert out.text.startswith("<|im_start|>system\nBe brief.<|im_end|>")


def test_self_recursive_macro_falls_back() -> None:
    out = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    assert out.source == FALLBACK
    assert "Recursion" in out.error


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{{ 'x' | center(10**9) }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        "{{ 9 ** 99999999 }}",
    ],
)
def test_output_and_time_bombs_fall_back_quickly(template: str) -> None:
    started = time.monotonic()
    out = render(template, timeout=1.0)
    assert out.source == FALLBACK, out.text[:100]
    assert time.monotonic() - started < 3.0


def test_output_cap() -> None:
    out = render("{% for i in range(1000) %}0123456789{% endfor %}", max_output=5000)
    assert out.source == FALLBACK
    assert "too large" in out.error


def test_raise_exception_message_is_kept() -> None:
    out = render("{{ raise_exception('Conversation roles must alternate') }}")
    assert out.source == FALLBACK
    assert "Conversation roles must alternate" in out.error


def test_syntax_error_falls_back() -> None:
    formatter = ChatFormatter("{% if %}")
    assert formatter.source == FALLBACK
    assert "TemplateSyntaxError" in formatter.error
    assert formatter.render(CONVERSATION).source == FALLBACK


def test_missing_template_uses_fallback() -> None:
    assert ChatFormatter(None).source == FALLBACK
    assert ChatFormatter("   ").render(CONVERSATION).error == "no chat template"


def test_fallback_is_chatml_with_pieces() -> None:
    out = render_fallback(CONVERSATION, "why")
    assert out.error == "why"
    assert out.text.endswith("<|im_start|>assistant\n")
    assert [p.message for p in out.pieces] == [None, 0, None, 1, None]


def test_template_that_drops_or_repeats_content_still_splits() -> None:
    template = "{% for m in messages %}{{ m.content }}{{ m.content }}{% endfor %}"
    out = render(template)
    assert [p.message for p in out.pieces] == [0, 0, 1, 1]
    out = render("{{ messages[-1].content | trim }}!")
    assert [p.message for p in out.pieces] == [1, None]


def test_content_with_marker_characters_is_harmless() -> None:
    tricky = (Msg("user", "\ue0000\ue001 and \ue000"),)
    out = render(CHAT_TEMPLATE, tricky)
    assert out.source == MODEL
    assert "".join(p.text for p in out.pieces) == out.text
