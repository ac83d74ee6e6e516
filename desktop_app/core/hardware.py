"""Facts about this machine: memory, cores, CPU features, free disk."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from desktop_app.core import llama_backend
from desktop_app.core.errors import QuantDeskError

# Features worth showing: what llama.cpp's CPU backend dispatches on.
_INTERESTING_FLAGS = (
    "sse3",
    "ssse3",
    "avx",
    "avx2",
    "f16c",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_int8",
    "neon",
    "sve",
    "dotprod",
)


@dataclass(frozen=True)
class MachineInfo:
    total_ram: int
    available_ram: int
    swap_total: int
    swap_free: int
    physical_cores: int
    logical_cores: int
    cpu_model: str
    cpu_features: tuple[str, ...]
    features_source: str  # "llama.cpp" or "os"
    os_name: str
    disk_path: str
    disk_free: int
    disk_total: int
    gpu_offload: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def used_ram(self) -> int:
        return max(0, self.total_ram - self.available_ram)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_features"] = list(self.cpu_features)
        return data


@dataclass(frozen=True)
class MemorySnapshot:
    total: int
    available: int

    @property
    def used(self) -> int:
        return max(0, self.total - self.available)


def memory_snapshot() -> MemorySnapshot:
    """Cheap enough for a status bar tick (one /proc/meminfo read)."""
    vm = psutil.virtual_memory()
    return MemorySnapshot(total=int(vm.total), available=int(vm.available))


def disk_space(path: Path | str) -> tuple[int, int]:
    """(free, total) bytes of the file system holding ``path`` or its nearest existing parent."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        raise QuantDeskError(f"disk usage of {probe}: {exc}", path=probe) from exc
    return int(usage.free), int(usage.total)


def default_threads(physical_cores: int | None = None) -> int:
    """The automatic thread count to start with: every physical core, as llama.cpp's own tools
    use. On an idle 2-core machine that generates 35-45% faster than one core fewer; when
    another process keeps a core busy it is 2.5x slower instead, so for generation the engine
    measures both while a reply streams and keeps the faster (engine/thread_tuner.py).
    """
    cores = physical_cores or psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return max(1, cores)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _os_cpu_flags() -> tuple[str, ...]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    return tuple(f.upper() for f in _INTERESTING_FLAGS if f in flags)
    except OSError:
        pass
    return ()


def read_machine_info(disk_path: Path | str, *, ask_backend: bool = True) -> MachineInfo:
    """Gather the facts; ``ask_backend`` imports llama.cpp to learn the features it uses."""
    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    features: tuple[str, ...] = ()
    source = "os"
    gpu = False
    if ask_backend:
        try:
            info = llama_backend.system_info()
        except QuantDeskError:
            info = ""
        if info:
            features = tuple(llama_backend.cpu_features_from_system_info(info))
            source = "llama.cpp"
            gpu = any(name in info for name in ("CUDA", "Metal", "Vulkan", "HIP", "SYCL"))
    if not features:
        features = _os_cpu_flags()
        source = "os"
    free, total = disk_space(disk_path)
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    return MachineInfo(
        total_ram=int(vm.total),
        available_ram=int(vm.available),
        swap_total=int(swap.total),
        swap_free=int(swap.free),
        physical_cores=int(physical),
        logical_cores=int(logical),
        cpu_model=_cpu_model(),
        cpu_features=features,
        features_source=source,
        os_name=f"{platform.system()} {platform.release()}",
        disk_path=str(disk_path),
        disk_free=free,
        disk_total=total,
        gpu_offload=gpu,
    )
