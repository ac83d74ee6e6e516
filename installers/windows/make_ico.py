"""Write installers/windows/quantdesk.ico from the rendered PNG icons (any OS, no Qt).

An .ico file is a directory of images; since Windows Vista each entry may be a whole PNG, so
the PNGs installers/render_icons.py made go in as they are, 16 to 256 pixels.

    python installers/windows/make_ico.py
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from desktop_app import resources  # noqa: E402

ICO_SIZES = tuple(s for s in resources.ICON_SIZES if s <= 256)  # the format's largest
OUT = Path(__file__).resolve().parent / "quantdesk.ico"


def build_ico(pngs: list[tuple[int, bytes]]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(pngs))  # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(pngs)
    entries, images = b"", b""
    for size, data in pngs:
        side = 0 if size == 256 else size  # 0 means 256 in a one-byte field
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        images += data
        offset += len(data)
    return header + entries + images


def main() -> int:
    pngs = [(s, resources.app_icon_png(s).read_bytes()) for s in ICO_SIZES]
    OUT.write_bytes(build_ico(pngs))
    print(f"wrote {OUT} ({', '.join(str(s) for s in ICO_SIZES)} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
