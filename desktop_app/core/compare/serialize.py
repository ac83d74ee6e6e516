"""Compare results to and from JSON-able dicts (the cache, the JSON report). No pickle: a cache
file is data, never code."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from desktop_app.core.compare.results import VariantInfo, VariantResult
from desktop_app.core.engine.protocol import GenerationStats, Token, TopToken
from desktop_app.core.quality.row_metrics import RowBlock
from desktop_app.core.quality.summary import QualitySummary


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _arr(a: np.ndarray | None) -> list[Any] | None:
    return None if a is None else a.tolist()


def rows_to_json(rows: RowBlock) -> dict[str, Any]:
    return {
        "nll": _arr(rows.nll),
        "top1": _arr(rows.top1),
        "top1_prob": _arr(rows.top1_prob),
        "top_ids": _arr(rows.top_ids),
        "top_probs": _arr(rows.top_probs),
        "kld": _arr(rows.kld),
        "ref_nll": _arr(rows.ref_nll),
        "ref_top1": _arr(rows.ref_top1),
    }


def rows_from_json(d: dict[str, Any]) -> RowBlock:
    def f(name: str) -> Any:
        v = d.get(name)
        return None if v is None else np.asarray(v, dtype=np.float64)

    def i(name: str) -> Any:
        v = d.get(name)
        return None if v is None else np.asarray(v, dtype=np.int32)

    nll, top1, top1_prob = f("nll"), i("top1"), f("top1_prob")
    if nll is None or top1 is None or top1_prob is None or len(nll) != len(top1):
        raise ValueError("damaged rows")
    return RowBlock(
        nll, top1, top1_prob, i("top_ids"), f("top_probs"), f("kld"), f("ref_nll"), i("ref_top1")
    )


def token_to_json(t: Token) -> dict[str, Any]:
    return {
        "id": t.token_id,
        "text": t.text,
        "prob": _num(t.prob),
        "top": [[a.token_id, a.text, _num(a.prob)] for a in t.top],
    }


def token_from_json(d: dict[str, Any]) -> Token:
    top = tuple(TopToken(int(a[0]), str(a[1]), float(a[2] or 0.0)) for a in d.get("top", []))
    return Token(0, int(d["id"]), str(d["text"]), float(d.get("prob") or 0.0), top)


def variant_to_json(v: VariantResult, *, with_rows: bool = True) -> dict[str, Any]:
    return {
        "index": v.index,
        "info": dict(v.info.__dict__),
        "text": v.text,
        "tokens": [token_to_json(t) for t in v.tokens],
        "stats": None if v.stats is None else dict(v.stats.__dict__),
        "rows": rows_to_json(v.rows) if (with_rows and v.rows is not None) else None,
        "summary": None if v.summary is None else v.summary.as_json(),
        "peak_rss_bytes": v.peak_rss_bytes,
        "eval_tps": _num(v.eval_tps),
        "error_code": v.error_code,
        "error_detail": v.error_detail,
    }


def _summary_from_json(d: dict[str, Any]) -> QualitySummary:
    ppl = d.get("ppl")
    fields: dict[str, Any] = dict(d)
    fields["ppl"] = math.nan if ppl is None else float(ppl)  # NaN is stored as null
    return QualitySummary(**fields)


def variant_from_json(d: dict[str, Any]) -> VariantResult:
    summary = d.get("summary")
    stats = d.get("stats")
    return VariantResult(
        index=int(d["index"]),
        info=VariantInfo(**d["info"]),
        text=str(d.get("text", "")),
        tokens=tuple(token_from_json(t) for t in d.get("tokens", [])),
        stats=None if stats is None else GenerationStats(**stats),
        rows=None if d.get("rows") is None else rows_from_json(d["rows"]),
        summary=None if summary is None else _summary_from_json(summary),
        peak_rss_bytes=int(d.get("peak_rss_bytes", 0)),
        eval_tps=d.get("eval_tps"),
        error_code=str(d.get("error_code", "")),
        error_detail=str(d.get("error_detail", "")),
        from_cache=True,
    )
