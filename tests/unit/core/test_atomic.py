"""Atomic file writing: the old version or the new one, never half of either, no temp left."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from desktop_app.core import atomic
from desktop_app.core.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    fsync_folder,
    is_disk_full,
    place_no_overwrite,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and rlimits")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_creates_then_replaces(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(target, b"second, longer than the first")
    assert target.read_bytes() == b"second, longer than the first"
    atomic_write_bytes(target, b"")
    assert target.read_bytes() == b""
    assert _names(tmp_path) == ["state.bin"]


def test_text_and_json(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "t.txt", "ünïcode\nline 2", durable=False)
    assert (tmp_path / "t.txt").read_bytes() == "ünïcode\nline 2".encode()
    data = {"name": "Qwen2.5 – 0.5B 中文", "n": [1, 2.5, None, True]}
    atomic_write_json(tmp_path / "d.json", data, indent=2)
    raw = (tmp_path / "d.json").read_text(encoding="utf-8")
    assert json.loads(raw) == data
    assert "中文" in raw and raw.endswith("}\n")  # UTF-8 kept readable, newline at the end
    assert _names(tmp_path) == ["d.json", "t.txt"]


@posix_only
def test_file_modes(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "public", b"x")
    assert (tmp_path / "public").stat().st_mode & 0o777 == 0o666 & ~_umask()
    atomic_write_bytes(tmp_path / "private", b"x", mode=0o600)
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600


def test_data_json_cannot_hold_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "d.json"
    target.write_text('{"old": true}')
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="[Cc]ircular"):
        atomic_write_json(target, loop)
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "lone surrogate \udc80")
    assert json.loads(target.read_text()) == {"old": True}
    assert _names(tmp_path) == ["d.json"]


def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "records.json"
    target.write_bytes(b"old and complete")

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space") as exc:
        atomic_write_bytes(target, b"new" * 1000)
    assert is_disk_full(exc.value)
    assert target.read_bytes() == b"old and complete"
    assert _names(tmp_path) == ["records.json"]


def test_ctrl_c_before_the_rename_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "recent.json"
    target.write_bytes(b"[]")

    def interrupted(_src: object, _dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(target, ["/a.gguf"])
    assert target.read_bytes() == b"[]"
    assert _names(tmp_path) == ["recent.json"]


_WRITE_PAST_LIMIT = """
import resource, signal, sys
from desktop_app.core.atomic import atomic_write_bytes, is_disk_full
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    atomic_write_bytes(sys.argv[1], b"x" * 100_000)
except OSError as exc:
    print("disk_full" if is_disk_full(exc) else f"other {exc.errno}")
else:
    print("written")
"""


@posix_only
def test_a_real_write_error_part_way_through(tmp_path: Path) -> None:
    """The kernel refuses bytes past a file size limit: a genuine short write (EFBIG)."""
    target = tmp_path / "sidecar.json"
    target.write_bytes(b"old")
    proc = subprocess.run(
        [sys.executable, "-c", _WRITE_PAST_LIMIT, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip() == "disk_full", proc.stderr
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["sidecar.json"]


def test_missing_folder_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "absent" / "f.json", b"x")
    assert _names(tmp_path) == []


def test_long_and_unicode_names(tmp_path: Path) -> None:
    name = "模型" * 60 + ".gguf.quantdesk.json"  # 380 UTF-8 bytes: too long for one name
    with pytest.raises(OSError, match="too long"):
        atomic_write_bytes(tmp_path / name, b"x")
    assert _names(tmp_path) == []
    name = "模" * 75 + ".gguf.quantdesk.json"  # 245 bytes: fits, and so must its temp name
    atomic_write_bytes(tmp_path / name, b"x")
    assert _names(tmp_path) == [name]


def test_concurrent_writers_leave_one_whole_version(tmp_path: Path) -> None:
    target = tmp_path / "shared.json"
    versions = [json.dumps({"writer": i, "pad": "y" * 20_000}) for i in range(8)]
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(5):
                atomic_write_text(target, text)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in versions
    assert _names(tmp_path) == ["shared.json"]


def test_place_no_overwrite(tmp_path: Path) -> None:
    tmp, dest = tmp_path / ".m.partial", tmp_path / "m.gguf"
    tmp.write_bytes(b"new")
    place_no_overwrite(tmp, dest)
    assert dest.read_bytes() == b"new" and not tmp.exists()

    tmp.write_bytes(b"newer")
    with pytest.raises(FileExistsError):
        place_no_overwrite(tmp, dest)
    assert dest.read_bytes() == b"new" and tmp.read_bytes() == b"newer"  # caller cleans up


@posix_only
def test_place_no_overwrite_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(_src: object, _dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")  # FAT, exFAT, some shares

    monkeypatch.setattr(atomic.os, "link", no_links)
    tmp, dest = tmp_path / ".m.partial", tmp_path / "m.gguf"
    tmp.write_bytes(b"new")
    place_no_overwrite(tmp, dest)
    assert dest.read_bytes() == b"new" and not tmp.exists()
    tmp.write_bytes(b"newer")
    with pytest.raises(FileExistsError):
        place_no_overwrite(tmp, dest)
    assert dest.read_bytes() == b"new"
    # A dangling symlink counts as taken: renaming over it would replace the link.
    (tmp_path / "link.gguf").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        place_no_overwrite(tmp, tmp_path / "link.gguf")


def test_fsync_folder_is_best_effort(tmp_path: Path) -> None:
    fsync_folder(tmp_path)
    fsync_folder(tmp_path / "missing")  # nothing to sync, nothing raised


@pytest.mark.parametrize(
    ("code", "full"),
    [
        (errno.ENOSPC, True),
        (getattr(errno, "EDQUOT", errno.ENOSPC), True),
        (errno.EFBIG, True),
        (errno.EACCES, False),
        (errno.EIO, False),
        (None, False),
    ],
)
def test_is_disk_full(code: int | None, full: bool) -> None:
    exc = OSError(code, "x") if code is not None else OSError("no errno")
    assert is_disk_full(exc) is full


def test_a_refused_link_is_not_retried_as_a_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(_src: object, _dst: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.os, "link", refused)
    tmp = tmp_path / ".m.partial"
    tmp.write_bytes(b"new")
    with pytest.raises(PermissionError):
        place_no_overwrite(tmp, tmp_path / "m.gguf")
    assert _names(tmp_path) == [".m.partial"]
