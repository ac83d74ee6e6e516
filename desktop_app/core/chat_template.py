"""Chat templates: a model's own Jinja template, rendered in a locked-down sandbox, or a fallback.

``tokenizer.chat_template`` in a GGUF file is code written by whoever published the file, so it is
treated as hostile (hardening notes: GHSA-56xg-wfcc-g829 ran shell commands through
``__subclasses__``; CVE-2025-27516 escaped Jinja's sandbox through ``|attr('format')``):

* Jinja's ``ImmutableSandboxedEnvironment`` (jinja2 >= 3.1.6), with unsafe attribute access,
  ``str.format`` and ``lipsum`` turned into hard errors instead of silent empty output;
* a wall-clock budget checked cooperatively (every output chunk, ``range`` step, call and
  intercepted operator), plus a thread join timeout for anything that never reaches a check;
* an output cap, and size checks on ``*``, ``+`` and ``**`` so one expression cannot build a
  gigabyte string or a million-digit number;
* any exception (RecursionError and MemoryError included) means "use the fallback".

The fallback is ChatML written in Python, so it cannot fail. Rendering also returns the prompt
split into template text and message contents (``pieces``): the engine tokenizes template text
with control tokens enabled and message contents as plain text, so a user who types
``<|im_start|>`` cannot forge a turn. This module is pure Python (no llama_cpp).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

MODEL = "model"
FALLBACK = "fallback"

DEFAULT_TIMEOUT = 2.0
DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024  # characters; a real prompt is far below n_ctx * ~4
_MAX_INT_BITS = 1 << 16  # ** results beyond ~20 000 decimal digits are refused

# Private-use characters mark where each message's content lands in the rendered text.
_MARK_OPEN = "\ue000"
_MARK_CLOSE = "\ue001"


class _Message(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


@dataclass(frozen=True)
class Piece:
    """A run of the rendered prompt: template text (``message`` None) or a message's content."""

    text: str
    message: int | None = None


@dataclass(frozen=True)
class RenderedChat:
    text: str  # the prompt as the template renders it with the real contents
    pieces: tuple[Piece, ...]  # the same prompt as template text and message contents
    source: str  # MODEL or FALLBACK
    error: str = ""  # why the model's template was not used; "" when it was


class TemplateLimitError(Exception):
    """The template exceeded its time or size budget."""


_budget = threading.local()


def _check_clock() -> None:
    deadline = getattr(_budget, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateLimitError("time budget exceeded")


def _max_output() -> int:
    return int(getattr(_budget, "max_output", DEFAULT_MAX_OUTPUT))


class _GuardedRange:
    """``range`` that reads the clock while a template loops over it (no settrace needed)."""

    __slots__ = ("_r",)

    def __init__(self, *args: int) -> None:
        self._r = safe_range(*args)  # refuses more than MAX_RANGE items

    def __iter__(self) -> Iterator[int]:
        return _checked(iter(self._r))

    def __reversed__(self) -> Iterator[int]:
        return _checked(reversed(self._r))

    def __len__(self) -> int:
        return len(self._r)

    def __getitem__(self, index: int) -> int:
        return self._r[index]

    def __contains__(self, value: object) -> bool:
        return value in self._r


def _checked(values: Iterator[int]) -> Iterator[int]:
    for value in values:
        _check_clock()  # ~50 ns, small next to one template loop step
        yield value


class _GenerationTag(Extension):
    """``{% generation %}...{% endgeneration %}`` (HF's assistant-mask marker): render the body."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > _max_output():
        raise TemplateLimitError("value too large")
    return value


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `~` is not an interceptable operator; check its result (at most twice the cap is
        # ever built, so a doubling loop stops long before it exhausts memory).
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(")")


def _guard_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse absurd sizes (``center(10**9)``, ``indent(10**9)``) and oversized results."""

    @functools.wraps(func)  # keeps jinja's pass_context/pass_environment markers
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_clock()
        limit = _max_output()
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > limit:
                raise TemplateLimitError("filter argument too large")
        return _check_size(func(*args, **kwargs))

    return guarded


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "+", "**"})
    code_generator_class = _CodeGenerator

    @staticmethod
    def checked(value: Any) -> Any:
        return _check_size(value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that prints as "": fail loudly instead.
        raise SecurityError(f"access to {attribute!r} of {type(obj).__name__} is not allowed")

    def wrap_str_format(self, value: Any) -> Any:
        # str.format / format_map were the route of two sandbox escapes; templates do not need
        # them (Jinja's own |format filter still works).
        if super().wrap_str_format(value) is not None:
            raise SecurityError("str.format is not allowed in chat templates")
        return None

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_clock()
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_clock()
        limit = _max_output()
        sized = (str, list, tuple)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, sized) and isinstance(n, int) and len(seq) * n > limit:
                    raise TemplateLimitError("repetition too large")
        elif operator == "+":
            if (
                isinstance(left, sized)
                and isinstance(right, sized)
                and len(left) + len(right) > limit
            ):
                raise TemplateLimitError("concatenation too large")
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right > 0
            and left.bit_length() * right > _MAX_INT_BITS
        ):
            raise TemplateLimitError("power too large")
        return super().call_binop(context, operator, left, right)


def _raise_exception(message: object = "") -> None:
    raise TemplateError(str(message))


def _strftime_now(fmt: str) -> str:
    return dt.datetime.now().strftime(fmt)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Hugging Face's tojson: not HTML-escaped (Jinja's default is), non-ASCII kept.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _make_environment() -> _Environment:
    # trim_blocks / lstrip_blocks as transformers renders templates, which is what authors test.
    env = _Environment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _GenerationTag]
    )
    env.globals.pop("lipsum", None)  # lorem-ipsum generator: no template needs it
    env.globals["range"] = _GuardedRange
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    for name, func in list(env.filters.items()):
        env.filters[name] = _guard_filter(func)
    return env


def render_fallback(messages: Sequence[_Message], error: str = "") -> RenderedChat:
    """ChatML, which most local models understand (and plain Python, so it cannot fail)."""
    pieces: list[Piece] = []
    for i, m in enumerate(messages):
        pieces.append(Piece(f"<|im_start|>{m.role}\n"))
        pieces.append(Piece(m.content, i))
        pieces.append(Piece("<|im_end|>\n"))
    pieces.append(Piece("<|im_start|>assistant\n"))
    merged = _merge(pieces)
    return RenderedChat("".join(p.text for p in merged), merged, FALLBACK, error)


def _merge(pieces: Sequence[Piece]) -> tuple[Piece, ...]:
    """Join adjacent template runs and drop empty ones."""
    out: list[Piece] = []
    for p in pieces:
        if not p.text:
            continue
        if out and p.message is None and out[-1].message is None:
            out[-1] = Piece(out[-1].text + p.text)
        else:
            out.append(p)
    return tuple(out)


def _split_marked(text: str, n_messages: int) -> tuple[Piece, ...]:
    pieces: list[Piece] = []
    rest = text
    while True:
        start = rest.find(_MARK_OPEN)
        end = rest.find(_MARK_CLOSE, start + 1) if start != -1 else -1
        if start == -1 or end == -1:
            pieces.append(Piece(rest))
            break
        index_text = rest[start + 1 : end]
        pieces.append(Piece(rest[:start]))
        if index_text.isdigit() and int(index_text) < n_messages:
            pieces.append(Piece("", int(index_text)))  # content filled in by the caller
        rest = rest[end + 1 :]
    return tuple(pieces)


class ChatFormatter:
    """Formats a conversation with one model's template; compiled once, rendered per request."""

    def __init__(
        self,
        template: str | None,
        *,
        bos_token: str = "",
        eos_token: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> None:
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.timeout = timeout
        self.max_output = max_output
        self.error = ""
        self._template: Any = None
        if not template or not template.strip():
            self.error = "no chat template"
            return
        try:
            self._template = _make_environment().from_string(template)
        except Exception as exc:  # noqa: BLE001 - any compile failure means "use the fallback"
            self.error = _describe(exc)

    @property
    def source(self) -> str:
        return MODEL if self._template is not None else FALLBACK

    def render(self, messages: Sequence[_Message]) -> RenderedChat:
        """The prompt for ``messages`` plus the assistant's turn opening; never raises."""
        if self._template is None:
            return render_fallback(messages, self.error)
        try:
            text = self._render([{"role": m.role, "content": m.content} for m in messages])
            marked = self._render(
                [
                    {"role": m.role, "content": f"{_MARK_OPEN}{i}{_MARK_CLOSE}"}
                    for i, m in enumerate(messages)
                ]
            )
        except Exception as exc:  # noqa: BLE001 - hostile template: every failure falls back
            return render_fallback(messages, _describe(exc))
        pieces = [
            Piece(messages[p.message].content, p.message) if p.message is not None else p
            for p in _split_marked(marked, len(messages))
        ]
        return RenderedChat(text, _merge(pieces), MODEL)

    def _render(self, messages: list[dict[str, str]]) -> str:
        variables = {
            "messages": messages,
            "add_generation_prompt": True,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
        }
        result: list[str] = []
        failure: list[BaseException] = []

        def run() -> None:
            _budget.deadline = time.monotonic() + self.timeout
            _budget.max_output = self.max_output
            try:
                result.append(self._collect(variables))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                failure.append(exc)

        # A thread bounds the wait even if the template is stuck inside one long C call; the
        # cooperative checks then stop it at its next step.
        worker = threading.Thread(target=run, name="chat-template", daemon=True)
        worker.start()
        worker.join(self.timeout + 0.5)
        if worker.is_alive():
            raise TemplateLimitError("template did not finish in time")
        if failure:
            raise failure[0]
        return result[0]

    def _collect(self, variables: dict[str, Any]) -> str:
        parts: list[str] = []
        size = 0
        for chunk in self._template.generate(**variables):
            size += len(chunk)
            if size > self.max_output:
                raise TemplateLimitError("output too large")
            _check_clock()
            parts.append(chunk)
        return "".join(parts)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:300]
