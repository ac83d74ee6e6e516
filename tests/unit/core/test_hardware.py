from __future__ import annotations

from pathlib import Path

from desktop_app.core.hardware import (
    default_threads,
    disk_space,
    memory_snapshot,
    read_machine_info,
)
from desktop_app.core.llama_backend import cpu_features_from_system_info


def test_default_threads_are_the_physical_cores() -> None:
    assert default_threads(1) == 1
    assert default_threads(2) == 2
    assert default_threads(8) == 8


def test_machine_info_without_the_backend(tmp_path: Path) -> None:
    info = read_machine_info(tmp_path / "not" / "yet" / "created", ask_backend=False)
    assert info.total_ram >= info.available_ram > 0
    assert info.used_ram == info.total_ram - info.available_ram
    assert info.logical_cores >= info.physical_cores >= 1
    assert info.features_source == "os"
    assert info.disk_free > 0  # measured on the nearest existing parent
    assert set(info.to_json()) >= {"total_ram", "cpu_features", "disk_free"}


def test_memory_snapshot_and_disk_space(tmp_path: Path) -> None:
    snap = memory_snapshot()
    assert 0 < snap.available <= snap.total
    free, total = disk_space(tmp_path)
    assert 0 < free <= total


def test_cpu_features_parse_llama_cpp_summary() -> None:
    info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | LLAMAFILE = 1 | "
    assert cpu_features_from_system_info(info) == ["SSE3", "SSSE3", "AVX", "AVX2", "LLAMAFILE"]
