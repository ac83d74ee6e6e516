"""Numbers for people: sizes, counts, bits per weight (shared by the GUI and the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop_app.core.model_facts import ModelFacts


def human_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB'; binary units, like the RAM figures operating systems show."""
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{sign}{int(value)} B"
            return f"{sign}{value:.1f} {unit}" if value < 100 else f"{sign}{value:.0f} {unit}"
        value /= 1024
    return f"{sign}{value:.1f} TiB"  # pragma: no cover - loop always returns


def human_count(n: int | None) -> str:
    """Parameter counts the way model cards write them: 1.5B, 494M, 260K."""
    if n is None:
        return "unknown"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            value = n / div
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return str(n)


def describe_sliding_window(facts: ModelFacts) -> str:
    """'1,024 tokens on 5 of 6 layers'; a window in the file that llama.cpp does not apply is
    shown as such, so nobody counts on memory it will not save."""
    if facts.swa is not None:
        layers = len(facts.swa.layers)
        return f"{facts.swa.window:,} tokens on {facts.swa.n_windowed} of {layers} layers"
    if facts.sliding_window:
        return f"none (the file's {facts.sliding_window:,} tokens are not applied)"
    return "none"
