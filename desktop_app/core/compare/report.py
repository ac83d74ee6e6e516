"""A comparison as JSON (for scripts) and as one self-contained HTML file (for people).

The HTML holds everything inline: no script, no external file, no font; every string that came
from a model or a file is escaped (a model's text is data, never markup). The chart is the GUI's
own chart as an embedded PNG when given, else an SVG drawn here with the same axes.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from typing import Any

from desktop_app import __version__
from desktop_app.core.compare.conversation import system_prompt, turns
from desktop_app.core.compare.results import CompareResult, VariantResult
from desktop_app.core.compare.serialize import token_to_json


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), digits)


def _variant_json(v: VariantResult) -> dict[str, Any]:
    s = v.summary
    return {
        "path": v.info.path,
        "quant": v.info.label,
        "size_bytes": v.info.size_bytes,
        "bits_per_weight": _num(v.info.bits_per_weight, 4),
        "ppl": _num(s.ppl) if s else None,
        "kld_mean": _num(s.kld_mean) if s else None,
        "kld_median": _num(s.kld_median) if s else None,
        "kld_p99": _num(s.kld_p99) if s else None,
        "kld_max": _num(s.kld_max) if s else None,
        "top1_agreement": _num(s.top1_agreement) if s else None,
        "ppl_ratio": _num(s.ppl_ratio) if s else None,
        "gen_tps": _num(v.stats.gen_tps, 3) if v.stats else None,
        "eval_tps": _num(v.eval_tps, 3),
        "ttft_s": _num(v.stats.ttft_s, 4) if v.stats else None,
        "estimated_bytes": v.info.estimated_bytes,
        "peak_rss_bytes": v.peak_rss_bytes or None,
        "scored_tokens": s.n_tokens if s else 0,
        "reply": v.text,
        "error": v.error_code or None,
        "error_detail": v.error_detail or None,
    }


def _conversation_json(result: CompareResult) -> list[dict[str, Any]]:
    """Every message the variants were given, numbered by turn (the system prompt is turn 0);
    the last one is ``prompt``. Earlier assistant turns are the reference's replies."""
    out: list[dict[str, Any]] = []
    turn = 0
    for m in result.spec.messages or ():
        if m.role == "user":
            turn += 1
        out.append({"turn": turn, "role": m.role, "content": m.content})
    return out


def report_json(result: CompareResult, *, with_tokens: bool = False) -> dict[str, Any]:
    """The documented JSON: reference path, and one entry per variant (the reference too, with
    KLD 0). ``with_tokens`` adds each reply token by token with probabilities. After follow-up
    turns, ``conversation`` holds the earlier turns; ``prompt`` stays the latest question."""
    variants = []
    for v in result.variants:
        entry = _variant_json(v)
        if with_tokens:
            entry["tokens"] = [token_to_json(t) for t in v.tokens]
        variants.append(entry)
    spec = result.spec
    return {
        "reference": result.reference.info.path,
        "mode": result.plan.mode.value,
        "n_ctx": spec.n_ctx,
        "input": "text" if spec.text is not None else "prompt",
        "prompt": None if spec.messages is None else spec.messages[-1].content,
        "cancelled": result.cancelled,
        "conversation": _conversation_json(result),
        "variants": variants,
    }


# --- HTML -------------------------------------------------------------------------------------


def _prob_colour(p: float) -> str:
    """Low probability warm, high probability clear: the same ramp as the GUI's token view."""
    p = min(1.0, max(0.0, p))
    alpha = 0.55 * (1.0 - p)
    return f"rgba(230, 120, 40, {alpha:.3f})"


def _kld_colour(k: float, top: float) -> str:
    share = 0.0 if top <= 0 else min(1.0, k / top)
    return f"rgba(200, 40, 60, {0.08 + 0.8 * share:.3f})"


def _mib(n: int | None) -> str:
    return "–" if not n else f"{n / 2**20:,.0f} MiB"


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "–" if x is None or not math.isfinite(x) else format(x, spec)


def _pct(share: float | None) -> float | None:
    return None if share is None else 100.0 * share


def _tokens_html(v: VariantResult) -> str:
    parts = []
    for t in v.tokens:
        alts = ", ".join(f"{a.text!r} {a.prob:.1%}" for a in t.top)
        parts.append(
            f'<span style="background:{_prob_colour(t.prob)}" '
            f'title="{html.escape(f"p={t.prob:.1%}; {alts}", quote=True)}">'
            f"{html.escape(t.text)}</span>"
        )
    return "".join(parts) or "<em>(no reply)</em>"


def _strip_html(result: CompareResult, v: VariantResult) -> str:
    if v.rows is None or v.rows.kld is None or len(v.rows.kld) == 0:
        return ""
    top = max(float(v.rows.kld.max()), 1e-9)
    texts = result.scored_texts
    cells = []
    for i, k in enumerate(v.rows.kld.tolist()):
        label = texts[i] if i < len(texts) else ""
        title = html.escape(f"{label!r}: KLD {k:.4f}", quote=True)
        cells.append(
            f'<span class="cell" style="background:{_kld_colour(k, top)}" title="{title}"></span>'
        )
    return f'<div class="strip">{"".join(cells)}</div>'


def chart_svg(result: CompareResult, width: int = 560, height: int = 300) -> str:
    """KLD mean against file size, one labelled point per scored variant."""
    pts = [
        (v.info.size_bytes / 2**20, v.summary.kld_mean, v.info.label)
        for v in result.variants
        if v.summary is not None and v.summary.kld_mean is not None
    ]
    if not pts:
        return ""
    pad = 48
    xmax = max(p[0] for p in pts) * 1.1 or 1.0
    ymax = max(p[1] for p in pts) * 1.15 or 1.0

    def sx(x: float) -> float:
        return pad + (width - 2 * pad) * x / xmax

    def sy(y: float) -> float:
        return height - pad - (height - 2 * pad) * y / ymax

    items = [
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#555"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#555"/>',
        f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">file size (MiB)</text>',
        f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" '
        f'text-anchor="middle">mean KLD vs reference</text>',
    ]
    for x, y, label in sorted(pts):
        items.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="#3070c0"/>')
        items.append(
            f'<text x="{sx(x) + 7:.1f}" y="{sy(y) - 7:.1f}">{html.escape(label)} '
            f"({x:,.0f} MiB, {y:.4f})</text>"
        )
    body = "".join(items)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">{body}</svg>'
    )


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.panes { display: flex; gap: 12px; }
.pane { flex: 1; border: 1px solid #ccc; border-radius: 6px; padding: 8px; min-width: 0; }
.reply { white-space: pre-wrap; font-size: 14px; line-height: 1.5; }
.strip { display: flex; flex-wrap: wrap; margin: 6px 0; }
.cell { width: 6px; height: 14px; }
.error { color: #a00; }
.turn { border-left: 3px solid #ccc; padding-left: 8px; margin: 8px 0; }
.turn pre { white-space: pre-wrap; margin: 2px 0 6px 0; }
"""


def _earlier_turns_html(result: CompareResult) -> str:
    """The system prompt and the turns before the latest question (escaped), or nothing."""
    messages = result.spec.messages or ()
    earlier = turns(messages)[:-1]
    system = system_prompt(messages)
    if not earlier and not system:
        return ""
    parts = ["<h2>Conversation so far</h2>"]
    if system:
        parts.append(f'<div class="turn"><b>System</b><pre>{html.escape(system)}</pre></div>')
    ref = html.escape(result.reference.info.label)
    for t in earlier:
        parts.append(
            f'<div class="turn"><b>Turn {t.number} · question</b>'
            f"<pre>{html.escape(t.question)}</pre>"
            f"<b>Turn {t.number} · reference ({ref}) reply</b>"
            f"<pre>{html.escape(t.reply or '')}</pre></div>"
        )
    return "".join(parts)


def report_html(result: CompareResult, chart_png: bytes | None = None) -> str:
    spec = result.spec
    ref = result.reference
    rows = []
    for v in result.variants:
        s = v.summary
        rows.append(
            "<tr>"
            f"<td>{html.escape(v.info.label)}{' (reference)' if v is ref else ''}</td>"
            f"<td>{_mib(v.info.size_bytes)}</td><td>{_fmt(v.info.bits_per_weight, '.2f')}</td>"
            f"<td>{_fmt(s.ppl if s else None, '.3f')}</td>"
            f"<td>{_fmt(s.ppl_ratio if s else None, '.4f')}</td>"
            f"<td>{_fmt(s.kld_mean if s else None)}</td>"
            f"<td>{_fmt(s.kld_median if s else None)}</td>"
            f"<td>{_fmt(s.kld_p99 if s else None)}</td>"
            f"<td>{_fmt(s.kld_max if s else None)}</td>"
            f"<td>{_fmt(_pct(s.top1_agreement) if s else None, '.1f')}</td>"
            f"<td>{_fmt(v.stats.gen_tps if v.stats else None, '.1f')}</td>"
            f"<td>{_mib(v.peak_rss_bytes)}</td>"
            "</tr>"
        )
    panes = []
    for v in result.variants:
        error = (
            f'<p class="error">{html.escape(v.error_code)}: {html.escape(v.error_detail)}</p>'
            if v.failed
            else ""
        )
        panes.append(
            f'<div class="pane"><h3>{html.escape(v.info.label)}</h3>'
            f"<p>{html.escape(v.info.path)}</p>{error}"
            f'<div class="reply">{_tokens_html(v)}</div></div>'
        )
    strips = "".join(
        f"<h4>{html.escape(v.info.label)}</h4>{_strip_html(result, v)}"
        for v in result.variants
        if v is not ref
    )
    if chart_png:
        chart = (
            '<img alt="quality against size" src="data:image/png;base64,'
            + base64.b64encode(chart_png).decode("ascii")
            + '">'
        )
    else:
        chart = chart_svg(result)
    prompt = spec.messages[-1].content if spec.messages else (spec.text or "")[:2000]
    n_turns = len(turns(spec.messages or ()))
    heading = f"Prompt (turn {n_turns})" if n_turns > 1 else "Prompt"
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>QuantDesk comparison</title><style>{_STYLE}</style></head><body>
<h1>QuantDesk comparison</h1>
<p>{html.escape(when)} · QuantDesk {html.escape(__version__)} · {result.plan.mode.value} run ·
context {spec.n_ctx} · reference {html.escape(ref.info.label)}</p>
{_earlier_turns_html(result)}
<h2>{heading}</h2><pre class="reply">{html.escape(prompt)}</pre>
<h2>Measured quality</h2>
<p>KLD: how far each variant's next-token distribution is from the reference's, on the
reference's own text (0 = identical). Same top-1: how often both would pick the same next token.</p>
<table><tr><th>variant</th><th>size</th><th>bits/weight</th><th>PPL</th><th>PPL ratio</th>
<th>KLD mean</th><th>median</th><th>p99</th><th>max</th><th>same top-1 %</th><th>tok/s</th>
<th>peak memory</th></tr>{"".join(rows)}</table>
{chart}
<h2>Replies</h2><p>Each token is tinted by how unsure its model was (more colour = lower
probability); hover for the alternatives.</p>
<div class="panes">{"".join(panes)}</div>
<h2>Where the variants depart from the reference</h2>
<p>One cell per token of the reference's reply, darker where the KL divergence is higher.</p>
{strips}
</body></html>
"""
