"""The diagnostics report and the log file behind it: versions, machine, settings, recent log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from desktop_app import __version__
from desktop_app.core.app_log import LOG_FILE_NAME, install_file_log, tail
from desktop_app.core.diagnostics import gather
from desktop_app.core.hf_token import SecretFilter, save_token
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import Settings, Theme

TOKEN = "hf_DiagnosticsSecret0123456789wxyz"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(SecretFilter, "_known", frozenset())
    return AppPaths.default().ensure()


def test_report_holds_versions_machine_settings_and_log(paths: AppPaths) -> None:
    save_token(TOKEN)
    log_file = paths.logs / LOG_FILE_NAME
    log_file.write_text(
        "".join(f"line {i}\n" for i in range(300)) + f"leak {TOKEN}\n", encoding="utf-8"
    )
    settings = Settings(threads=3, theme=Theme.DARK, models_folders=("/m",))
    report = gather(paths, settings, runtime={"Qt": "6.x-test"})
    text = report.to_text()
    assert report.value("QuantDesk", "QuantDesk") == __version__
    assert report.value("QuantDesk", "Qt") == "6.x-test"
    for package in ("PySide6", "llama_cpp_python", "gguf", "huggingface_hub"):
        value = report.value("QuantDesk", package)
        assert value and value != "not installed", package
    assert report.value("This machine", "Threads") == "3 (set)"
    assert report.value("This machine", "Transparent huge pages") in (
        "always",
        "madvise",
        "never",
        "not available",
    )
    assert int(report.value("This machine", "RAM total") or 0) > 0
    assert '"theme": "dark"' in (report.value("Settings", "Settings") or "")
    assert report.value("Settings", "HF token") == "file hf_****wxyz"
    assert len(report.log_lines) == 200
    assert report.log_lines[-1] == "leak hf_****wxyz"
    assert report.log_lines[0] == "line 101"
    assert TOKEN not in text
    assert "## This machine" in text and "## Last 200 log lines" in text


def test_report_without_log_or_token(paths: AppPaths) -> None:
    report = gather(paths, Settings())
    assert report.log_lines == ()
    assert "(the log is empty)" in report.to_text()
    assert report.value("Settings", "HF token") == "none"
    assert (report.value("This machine", "Threads") or "").endswith("(auto)")


@pytest.mark.parametrize(
    ("content", "lines", "expected"),
    [
        (b"", 5, []),
        (b"a\nb\nc\n", 2, ["b", "c"]),
        (b"a\nb\nc", 10, ["a", "b", "c"]),
        (b"a\r\nb\r\n", 10, ["a", "b"]),
        (b"bad \xff byte\n", 1, ["bad \ufffd byte"]),
        (b"x\n", 0, []),
    ],
)
def test_tail(tmp_path: Path, content: bytes, lines: int, expected: list[str]) -> None:
    file = tmp_path / "f.log"
    file.write_bytes(content)
    assert tail(file, lines) == expected


def test_tail_reads_only_the_end_of_a_big_file(tmp_path: Path) -> None:
    file = tmp_path / "big.log"
    file.write_bytes(b"".join(b"%08d\n" % i for i in range(200_000)))  # 1.8 MB
    got = tail(file, 3, max_bytes=4096)
    assert got == ["00199997", "00199998", "00199999"]
    assert tail(tmp_path / "missing.log") == []


def test_log_file_rotates(tmp_path: Path) -> None:
    root = logging.getLogger()
    levels = (root.level, [(h, h.level) for h in root.handlers])
    handler = install_file_log(tmp_path, max_bytes=2000, backups=2)
    try:
        for i in range(200):
            logging.getLogger("quantdesk.rotation").info("record number %d %s", i, "x" * 40)
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        for other, level in levels[1]:
            other.setLevel(level)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [LOG_FILE_NAME, f"{LOG_FILE_NAME}.1", f"{LOG_FILE_NAME}.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "record number 199" in (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8")
