from __future__ import annotations

from pathlib import Path

from desktop_app.core.recent_files import MAX_RECENT, RecentFiles


def test_newest_first_without_duplicates(tmp_path: Path) -> None:
    recent = RecentFiles(tmp_path / "cfg" / "recent.json")
    assert recent.load() == []
    recent.add("/a.gguf")
    recent.add("/b.gguf")
    assert recent.add("/a.gguf") == ["/a.gguf", "/b.gguf"]
    assert RecentFiles(tmp_path / "cfg" / "recent.json").load() == ["/a.gguf", "/b.gguf"]


def test_capped(tmp_path: Path) -> None:
    recent = RecentFiles(tmp_path / "recent.json")
    for i in range(MAX_RECENT + 5):
        recent.add(f"/m{i}.gguf")
    assert len(recent.load()) == MAX_RECENT
    assert recent.load()[0] == f"/m{MAX_RECENT + 4}.gguf"


def test_damaged_file_means_empty(tmp_path: Path) -> None:
    path = tmp_path / "recent.json"
    for junk in (b"\xff\xfe garbage", b'{"not": "a list"}', b"[1, 2, null]"):
        path.write_bytes(junk)
        assert RecentFiles(path).load() == []
    assert RecentFiles(path).add("/x.gguf") == ["/x.gguf"]
