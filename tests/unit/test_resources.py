"""resources/ as the app and the installers read it: icon sizes, desktop entry, AppStream
metainfo, sample texts, and the one module that finds them (source tree, bundle, override)."""

from __future__ import annotations

import configparser
import importlib.util
import re
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from desktop_app import __version__, resources

ROOT = Path(__file__).resolve().parents[2]


def png_header(path: Path) -> tuple[int, int, int]:
    """Width, height and colour type from a PNG's IHDR chunk."""
    data = path.read_bytes()[:29]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def test_every_icon_size_is_a_transparent_png_of_that_size() -> None:
    assert resources.app_icon_svg().is_file()
    pngs = resources.app_icon_pngs()
    assert [p.name for p in pngs] == [f"quantdesk-{s}.png" for s in resources.ICON_SIZES]
    for size, path in zip(resources.ICON_SIZES, pngs, strict=True):
        assert png_header(path) == (size, size, 6)  # 6: RGBA, so the corners can be clear


def test_unknown_icon_size_is_refused() -> None:
    with pytest.raises(ValueError, match="no 13px icon"):
        resources.app_icon_png(13)


def test_committed_pngs_match_a_fresh_render_of_the_svg(qapp: object) -> None:
    # Someone edited the SVG and forgot `installers/render_icons.py`: this fails.
    from PySide6.QtGui import QImage
    from PySide6.QtSvg import QSvgRenderer

    spec = importlib.util.spec_from_file_location(
        "render_icons", ROOT / "installers" / "render_icons.py"
    )
    assert spec is not None and spec.loader is not None
    render_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_icons)
    renderer = QSvgRenderer(str(resources.app_icon_svg()))
    assert renderer.isValid()
    for size in (16, 64, 256):
        fresh = render_icons.render(renderer, size)
        committed = QImage(str(resources.app_icon_png(size))).convertToFormat(fresh.format())
        assert committed.size() == fresh.size()
        worst = max(
            abs(a - b)
            for y in range(0, size, max(1, size // 32))
            for x in range(0, size, max(1, size // 32))
            for a, b in zip(
                committed.pixelColor(x, y).getRgb(), fresh.pixelColor(x, y).getRgb(), strict=True
            )
        )
        assert worst <= 2, f"{size}px icon differs from the SVG by {worst}"


def test_app_icon_offers_every_size(qapp: object) -> None:
    from desktop_app.ui.app_icon import app_icon

    icon = app_icon()
    assert not icon.isNull()
    assert sorted(s.width() for s in icon.availableSizes()) == list(resources.ICON_SIZES)
    assert icon.pixmap(48, 48).width() == 48


def test_desktop_entry_names_the_app_icon_and_command() -> None:
    path = resources.desktop_entry()
    assert path.name == f"{resources.APP_ID}.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "QuantDesk"
    assert entry["Icon"] == resources.APP_ID  # installed as hicolor/<size>/apps/<APP_ID>.png
    assert entry["Exec"] == "quantdesk"  # installers/linux/install.sh rewrites it to a full path
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")


def test_metainfo_matches_the_app_id_and_version() -> None:
    path = resources.appstream_metainfo()
    root = ET.parse(path).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == resources.APP_ID
    assert root.findtext("launchable") == resources.desktop_entry().name
    assert root.findtext("project_license") == "MIT"
    versions = [r.get("version") for r in root.iter("release")]
    assert versions[0] == __version__, "add a <release> for the new version"


def test_sample_texts_are_public_domain_and_a_few_kilobytes() -> None:
    texts = resources.sample_texts()
    assert len(texts) >= 2
    for sample in texts:
        assert sample.title and sample.author
        year = re.search(r"\b(1[0-8]\d\d)\b", sample.author)
        assert year is not None, f"{sample.path.name}: the header names no pre-1900 year"
        assert 2_000 <= len(sample.text) <= 20_000
        assert not sample.text.startswith("#")  # the header is not part of the text
        assert sample.text.endswith("\n") and "\r" not in sample.text


@pytest.mark.parametrize(
    "header",
    [
        "Pride and Prejudice | Jane Austen, 1813 | public domain",  # no "#"
        "# Pride and Prejudice | Jane Austen, 1813",  # no licence
        "# Pride and Prejudice | Jane Austen, 1813 | all rights reserved",
        "",
    ],
)
def test_a_sample_text_without_a_public_domain_header_is_refused(
    tmp_path: Path, header: str
) -> None:
    path = tmp_path / "text.txt"
    path.write_text(f"{header}\n\nIt is a truth universally acknowledged.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header must be"):
        resources.read_sample_text(path)


def test_override_points_every_lookup_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: object
) -> None:
    from desktop_app.ui.app_icon import app_icon

    monkeypatch.setenv(resources.RESOURCES_ENV, str(tmp_path))
    assert resources.resources_dir() == tmp_path
    assert resources.desktop_entry().parent == tmp_path / "linux"
    assert resources.sample_texts() == []
    assert resources.app_icon_pngs() == []
    assert app_icon().isNull()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("# A | B, 1850 | Public Domain\n\nText.\n")
    [only] = resources.sample_texts()
    assert (only.title, only.author, only.text) == ("A", "B, 1850", "Text.\n")


def test_a_frozen_build_finds_resources_next_to_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(resources.RESOURCES_ENV, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resources_dir() == tmp_path / "resources"
    assert resources.app_icon_svg() == tmp_path / "resources" / "icons" / "quantdesk.svg"
