"""Where QuantDesk's bundled data files (``resources/`` in the source tree) are.

The folder sits next to the ``desktop_app`` package in a checkout or an editable install. A
frozen build (PyInstaller) unpacks it under ``sys._MEIPASS``; ``QUANTDESK_RESOURCES`` points
elsewhere when a packager puts it somewhere else. No Qt here: the core reads resources too.

Every resource path goes through this module (icon, desktop entry, AppStream metainfo, sample
texts, catalog), so installers and the app agree on one layout:

    resources/icons/quantdesk.svg, quantdesk-<size>.png   (installers/render_icons.py)
    resources/linux/<APP_ID>.desktop, <APP_ID>.metainfo.xml
    resources/texts/*.txt   (first line: "# <work> | <author, year> | public domain")
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "APP_ID",
    "ICON_SIZES",
    "SampleText",
    "app_icon_png",
    "app_icon_pngs",
    "app_icon_svg",
    "appstream_metainfo",
    "desktop_entry",
    "resource_path",
    "resources_dir",
    "sample_texts",
]

RESOURCES_ENV = "QUANTDESK_RESOURCES"
# Reverse-DNS id: the .desktop and metainfo file names, and the icon name desktops look up.
APP_ID = "io.github.quantdesk.QuantDesk"
# The sizes freedesktop icon themes, Windows .ico and macOS .icns draw from.
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
_PUBLIC_DOMAIN = "public domain"


def resources_dir() -> Path:
    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override)
    frozen = getattr(sys, "_MEIPASS", None)
    if isinstance(frozen, str):
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """``resources/<parts...>`` (the file may not exist; callers handle that)."""
    return resources_dir().joinpath(*parts)


# --- icon and desktop integration ------------------------------------------------------------


def app_icon_svg() -> Path:
    return resource_path("icons", "quantdesk.svg")


def app_icon_png(size: int) -> Path:
    if size not in ICON_SIZES:
        raise ValueError(f"no {size}px icon; sizes are {ICON_SIZES}")
    return resource_path("icons", f"quantdesk-{size}.png")


def app_icon_pngs() -> list[Path]:
    """The rendered PNG icons that exist, smallest first (a window icon takes them all)."""
    return [p for p in (app_icon_png(s) for s in ICON_SIZES) if p.is_file()]


def desktop_entry() -> Path:
    return resource_path("linux", f"{APP_ID}.desktop")


def appstream_metainfo() -> Path:
    return resource_path("linux", f"{APP_ID}.metainfo.xml")


# --- sample texts (perplexity scoring) -------------------------------------------------------


@dataclass(frozen=True)
class SampleText:
    """One public-domain text: ``title`` and ``author`` from its header line, ``text`` after."""

    path: Path
    title: str
    author: str
    text: str


def read_sample_text(path: Path) -> SampleText:
    """Parse a sample text file; ValueError when its header does not declare public domain."""
    raw = path.read_text(encoding="utf-8")
    header, _, body = raw.partition("\n")
    fields = [f.strip() for f in header.removeprefix("#").split("|")]
    if not header.startswith("#") or len(fields) != 3 or fields[2].lower() != _PUBLIC_DOMAIN:
        raise ValueError(f"{path.name}: header must be '# <work> | <author> | public domain'")
    return SampleText(path=path, title=fields[0], author=fields[1], text=body.strip() + "\n")


def sample_texts() -> list[SampleText]:
    """Every sample text, by file name. Missing folder: an empty list."""
    folder = resource_path("texts")
    if not folder.is_dir():
        return []
    return [read_sample_text(p) for p in sorted(folder.glob("*.txt"))]
