"""Render resources/icons/quantdesk.svg to the PNG sizes desktops and installers need.

Run after editing the SVG (the PNGs are committed, so builds need no SVG renderer):

    QT_QPA_PLATFORM=offscreen .venv/bin/python installers/render_icons.py

Qt's own SVG renderer draws each size straight from the vector (no downscaling of one big
bitmap), onto a transparent image. ``--sheet FILE`` also writes every size side by side on
light and dark backgrounds, to look at them together.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt  # noqa: E402 - the platform must be chosen first
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from desktop_app import resources  # noqa: E402


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def contact_sheet(images: dict[int, QImage]) -> QImage:
    """Every size at 1:1 on a light row and a dark row."""
    pad = 16
    width = sum(images) + pad * (len(images) + 1)
    row = max(images) + 2 * pad
    sheet = QImage(width, 2 * row, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(sheet)
    for y, colour in ((0, "#f4f4f4"), (row, "#2b2b2b")):
        painter.fillRect(0, y, width, row, QColor(colour))
        x = pad
        for size, image in images.items():
            painter.drawImage(x, y + row - pad - size, image)
            x += size + pad
    painter.end()
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet of all sizes")
    args = parser.parse_args(argv)
    _app = QGuiApplication.instance() or QGuiApplication([])
    svg = resources.app_icon_svg()
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        print(f"render_icons: {svg} is not a valid SVG", file=sys.stderr)
        return 1
    images: dict[int, QImage] = {}
    for size in resources.ICON_SIZES:
        images[size] = render(renderer, size)
        out = resources.app_icon_png(size)
        if not images[size].save(str(out), "PNG"):
            print(f"render_icons: could not write {out}", file=sys.stderr)
            return 1
        print(f"wrote {out}")
    if args.sheet is not None:
        contact_sheet(images).save(str(args.sheet), "PNG")
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
