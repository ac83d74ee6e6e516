"""Colour ramps for Compare: token probability tints and KL-divergence heat cells.

Tints are translucent so the palette's own text colour stays readable on light and dark themes:
the tint mixes with whatever the background is. Confident tokens get a faint green, doubtful
ones amber, then red; the alpha grows as the probability falls, so the eye finds the doubtful
tokens first.
"""

from __future__ import annotations

import functools
import math

from PySide6.QtGui import QColor

_GREEN = (46, 157, 79)
_AMBER = (224, 160, 58)
_RED = (214, 69, 65)
_PURPLE = (128, 40, 120)

# KLD below this is "no difference worth seeing"; at KLD_HIGH the cell is fully red.
KLD_LOW = 1e-4
KLD_HIGH = 1.0


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


TINT_LEVELS = 40  # probabilities are shown in 2.5% steps: no eye tells finer tints apart


def tint_level(prob: float) -> int:
    """``prob`` (0..1) as one of TINT_LEVELS + 1 steps (NaN counts as 0)."""
    p = 0.0 if math.isnan(prob) else min(1.0, max(0.0, prob))
    return round(p * TINT_LEVELS)


def probability_tint(prob: float) -> QColor:
    """Background for a token the model chose with probability ``prob`` (0..1)."""
    return QColor(level_tint(tint_level(prob)))


@functools.lru_cache(maxsize=TINT_LEVELS + 1)
def level_tint(level: int) -> QColor:
    """The tint of a ``tint_level`` (cached: callers must not modify it)."""
    doubt = 1.0 - level / TINT_LEVELS
    rgb = _mix(_GREEN, _AMBER, doubt * 2) if doubt < 0.5 else _mix(_AMBER, _RED, doubt * 2 - 1)
    color = QColor(*rgb)
    color.setAlpha(round(28 + 150 * doubt))
    return color


def kld_level(kld: float) -> float:
    """KLD on a 0..1 log scale: KLD_LOW and below -> 0, KLD_HIGH and above -> 1."""
    if math.isnan(kld) or kld <= KLD_LOW:
        return 0.0
    if kld >= KLD_HIGH:
        return 1.0
    return math.log10(kld / KLD_LOW) / math.log10(KLD_HIGH / KLD_LOW)


def kld_color(kld: float) -> QColor:
    """An opaque heat cell: green (no difference) -> amber -> red -> purple (far off)."""
    t = kld_level(kld)
    if t < 0.45:
        rgb = _mix(_GREEN, _AMBER, t / 0.45)
    elif t < 0.9:
        rgb = _mix(_AMBER, _RED, (t - 0.45) / 0.45)
    else:
        rgb = _mix(_RED, _PURPLE, (t - 0.9) / 0.1)
    return QColor(*rgb)


def visible_text(text: str) -> str:
    """A token as a person can read it in a tooltip: spaces, newlines and tabs shown."""
    if text == "":
        return "(part of a character)"
    out = text.replace(" ", "\u2423").replace("\n", "\u23ce").replace("\t", "\u21e5")
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in out)
