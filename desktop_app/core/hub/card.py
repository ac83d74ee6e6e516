"""A model card (README.md) reduced to a short plain-text summary.

Cards are Markdown with embedded HTML, written by anyone. QuantDesk shows a few sentences of
them as plain text, never rendered: tags, images, links and code are dropped (a link keeps its
text, never its target), invisible and control characters are removed, length is capped.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from desktop_app.core.hub.listing import CardInfo

__all__ = ["card_info", "card_summary"]

_FRONT_MATTER = re.compile(r"\A\ufeff?---\s*\n.*?\n---\s*(?:\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_BLOCK_TAGS = re.compile(
    r"<(script|style|table|details|svg)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE
)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]*)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<?https?://\S+>?")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_ENTITY = re.compile(r"&(?:nbsp|amp|lt|gt|quot|#39);")
_ENTITIES = {"&nbsp;": " ", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}
_MAX_INPUT = 256 * 1024


def _clean_line(line: str) -> str:
    line = _IMAGE.sub("", line)
    line = _LINK.sub(r"\1", line)
    line = _REF_LINK.sub(r"\1", line)
    line = _AUTOLINK.sub("", line)
    line = _TAG.sub("", line)
    line = _EMPHASIS.sub(r"\2", line)
    line = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], line)
    return line


def _visible(text: str) -> str:
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n" or ch == " ":
            out.append(" ")
        elif cat.startswith("C") or cat in ("Zl", "Zp"):
            continue  # controls, bidi overrides, zero-width characters
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def card_summary(markdown: str, limit: int = 600) -> str:
    """The first prose paragraphs of a card as one line of plain text, at most ``limit`` chars."""
    text = markdown[:_MAX_INPUT].replace("\r\n", "\n").replace("\r", "\n")
    text = _FRONT_MATTER.sub("", text, count=1)
    text = _COMMENT.sub("", text)
    text = _FENCE.sub("", text)
    text = _BLOCK_TAGS.sub("", text)
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        first = lines[0]
        if first.startswith(("#", "|", "```", "---", "===", "- ", "* ", "+ ")) or re.match(
            r"\d+\. ", first
        ):
            continue  # headings, tables, rules and lists are not a summary
        prose = _visible(" ".join(_clean_line(ln.lstrip("> ")) for ln in lines))
        if len(prose) < 20:  # a badge row or a lone word
            continue
        paragraphs.append(prose)
        if sum(len(p) for p in paragraphs) >= limit:
            break
    summary = " ".join(paragraphs)
    if len(summary) > limit:
        cut = summary[: limit - 1]
        space = cut.rfind(" ")
        summary = (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "\u2026"
    return summary


def _strings(value: Any, limit: int = 20) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return ()
    return tuple(_visible(v)[:200] for v in value[:limit] if isinstance(v, str) and v.strip())


def card_info(card_data: Any, readme: str | None, pipeline_tag: Any = None) -> CardInfo:
    """Card metadata (the README's YAML header, as the hub returns it) plus the summary."""
    data: dict[str, Any] = {}
    if isinstance(card_data, dict):
        data = card_data
    elif card_data is not None and hasattr(card_data, "to_dict"):
        try:
            raw = card_data.to_dict()
        except Exception:  # noqa: BLE001 - card metadata is untrusted and optional
            raw = None
        data = raw if isinstance(raw, dict) else {}
    licenses = _strings(data.get("license"), 1)
    return CardInfo(
        summary=card_summary(readme) if readme else "",
        license=licenses[0] if licenses else None,
        base_models=_strings(data.get("base_model")),
        languages=_strings(data.get("language")),
        pipeline_tag=_strings(pipeline_tag, 1)[0] if _strings(pipeline_tag, 1) else None,
    )
