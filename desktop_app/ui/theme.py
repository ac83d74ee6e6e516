"""Colours and words shared by pages (verdict badges), and the light and dark palettes.

Every colour here stays readable on both palettes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

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


# --- light and dark palettes ----------------------------------------------------------------------
#
# "System" keeps the palette the platform gives (and follows it when the desktop switches between
# light and dark); "Light" and "Dark" set one of the palettes below on the Fusion style, which
# honours palettes on every platform (the native Windows style ignores them). Both keep text at
# a contrast ratio of at least 10:1 against its background, and selected text, links and
# placeholders at least 5:1 (WCAG asks 4.5:1); tests/unit/ui/test_settings_page.py checks it.

_PALETTES: dict[str, dict[str, str]] = {
    "light": {
        "Window": "#f3f3f3",
        "WindowText": "#1b1b1b",
        "Base": "#ffffff",
        "AlternateBase": "#f6f6f8",
        "ToolTipBase": "#ffffdc",
        "ToolTipText": "#1b1b1b",
        "PlaceholderText": "#6e6e6e",
        "Text": "#1b1b1b",
        "Button": "#ececec",
        "ButtonText": "#1b1b1b",
        "BrightText": "#ffffff",
        "Light": "#ffffff",
        "Midlight": "#e3e3e3",
        "Mid": "#a0a0a0",
        "Dark": "#9f9f9f",
        "Shadow": "#767676",
        "Highlight": "#2f65ca",
        "HighlightedText": "#ffffff",
        "Link": "#1f56b8",
        "LinkVisited": "#6a3fb0",
    },
    "dark": {
        "Window": "#2b2b2e",
        "WindowText": "#ececec",
        "Base": "#1f1f22",
        "AlternateBase": "#27272b",
        "ToolTipBase": "#3a3a3f",
        "ToolTipText": "#ececec",
        "PlaceholderText": "#9a9a9f",
        "Text": "#ececec",
        "Button": "#36363a",
        "ButtonText": "#ececec",
        "BrightText": "#ffffff",
        "Light": "#48484d",
        "Midlight": "#3d3d42",
        "Mid": "#6f6f75",
        "Dark": "#1a1a1c",
        "Shadow": "#0c0c0d",
        "Highlight": "#2d62c4",
        "HighlightedText": "#ffffff",
        "Link": "#8ab4ff",
        "LinkVisited": "#c3a4ff",
    },
}
# Disabled text: dimmer, still legible (4.5:1 is not required for disabled controls).
_DISABLED = {"light": "#8c8c8c", "dark": "#7c7c82"}

_system_state: dict[str, object] = {}


def build_palette(name: str) -> QPalette:
    """The "light" or "dark" palette."""
    palette = QPalette()
    for role_name, colour in _PALETTES[name].items():
        palette.setColor(QPalette.ColorRole[role_name], QColor(colour))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(_DISABLED[name]))
    return palette


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def _system_wants_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, theme: str) -> None:
    """Apply "system", "light" or "dark" to the whole application, live."""
    if "style" not in _system_state:
        # The first call sees the platform's own style: "system" returns to it.
        _system_state["style"] = app.style().name()
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: _follow_system(app))
    _system_state["theme"] = theme
    if theme == "system":
        app.setStyle(str(_system_state["style"]))
        # A palette with no roles set hands the application back to the platform's palette,
        # which Qt then keeps up to date when the desktop switches between light and dark.
        app.setPalette(QPalette())
        if _system_wants_dark(app) and not is_dark(app.palette()):
            # The desktop says dark but the platform plugin gave a light palette (common on
            # Linux without a platform theme): use ours rather than ignore the desktop.
            app.setStyle("Fusion")
            app.setPalette(build_palette("dark"))
        return
    app.setStyle("Fusion")
    app.setPalette(build_palette(theme))


def current_theme() -> str:
    return str(_system_state.get("theme", "system"))


def _follow_system(app: QApplication) -> None:
    if _system_state.get("theme") == "system":
        apply_theme(app, "system")
