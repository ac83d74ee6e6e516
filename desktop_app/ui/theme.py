"""Colours and words shared by pages: verdict badges, readable on light and dark palettes."""

from __future__ import annotations

from desktop_app.core.fit import Verdict

_VERDICT_COLORS = {
    Verdict.FITS: "#2e9d4f",
    Verdict.TIGHT: "#d08a00",
    Verdict.DOES_NOT_FIT: "#d64541",
}

_VERDICT_TEXT = {
    Verdict.FITS: "Fits",
    Verdict.TIGHT: "Tight",
    Verdict.DOES_NOT_FIT: "Does not fit",
}

# Stacked memory bar segments, in drawing order.
SEGMENT_COLORS = {
    "weights": "#4a7bd0",
    "repack": "#8e6ad8",
    "kv_cache": "#38a3a5",
    "compute": "#e0a03a",
    "overhead": "#9a9a9a",
}


def verdict_color(verdict: Verdict) -> str:
    return _VERDICT_COLORS[verdict]


def verdict_text(verdict: Verdict) -> str:
    return _VERDICT_TEXT[verdict]


def badge_style(verdict: Verdict) -> str:
    return (
        f"QLabel {{ background: {verdict_color(verdict)}; color: white; border-radius: 9px;"
        " padding: 3px 12px; font-weight: 600; }"
    )
