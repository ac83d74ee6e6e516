"""Where the model worker keeps the weights: file mapping or its own memory, 4 KiB or 2 MiB pages.

The engine's default load (no mmap, malloc on transparent huge pages: engine/huge_pages.py)
against the two layouts it replaced and against llama-bench, on generation, the memory-bound
part. Each engine sample is a fresh worker (spawned, loaded, a 4-token warm-up, then 128 tokens
after a short prompt, automatic threads), each llama-bench sample one ``-p 0 -n 128`` run with
its defaults (mmap, 4 KiB pages). The four take turns in a rotating order every round; the
headline is the median of per-round ratios.

Layouts:
* ``mmap, 4 KiB``: llama.cpp's own default; the engine's old default for files it does not
  repack (F16, Q8_0). For repacked files (Q4_K_M) the mapped original stays resident next to
  the repacked copy.
* ``own memory, 4 KiB``: no mmap, huge pages off (``glibc.malloc.hugetlb=0``): the engine's
  old default for repacked files.
* ``own memory, huge pages``: no mmap, huge pages on: the engine's default now.

Usage:
    python benchmarks/worker_memory.py [--quants F16,Q4_K_M] [--rounds 8] [--no-write]
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Importing the engine benchmark also clears OMP_WAIT_POLICY, as the app leaves it.
from benchmarks.engine_vs_llama_bench import (  # noqa: E402
    PromptTexts,
    Sample,
    background_cpu,
    engine_sample,
    llama_bench,
)
from benchmarks.fit_accuracy import _write_section, ensure_models  # noqa: E402
from benchmarks.native_tools import ensure_tool, llama_cpp_python_version  # noqa: E402
from desktop_app.core.engine.huge_pages import TUNABLES_ENV, thp_mode  # noqa: E402
from desktop_app.core.engine.protocol import LoadSettings  # noqa: E402
from desktop_app.core.hardware import read_machine_info  # noqa: E402

HEADING = "## Worker memory: mmap and huge pages"
BENCH = "llama-bench"
DEFAULT = "own memory, huge pages"
LAYOUTS: dict[str, tuple[bool, bool]] = {  # label: (use_mmap, huge pages)
    "mmap, 4 KiB": (True, False),
    "own memory, 4 KiB": (False, False),
    DEFAULT: (False, True),
}


@dataclass
class Runs:
    samples: list[Sample] = field(default_factory=list)
    huge_mib: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)


def engine_run(model: Path, texts: PromptTexts, use_mmap: bool, huge: bool, index: int, runs: Runs):
    # The worker reads the tunable when it starts; set here, where no other thread runs.
    os.environ[TUNABLES_ENV] = f"glibc.malloc.hugetlb={int(huge)}"
    settings = LoadSettings(str(model), use_mmap=use_mmap)
    sample, info = engine_sample(model, settings, texts, index, prompt=False)
    runs.samples.append(sample)
    runs.huge_mib.append(info.huge_page_bytes / 2**20)
    runs.rss_mib.append(info.rss_bytes / 2**20)
    runs.load_s.append(info.load_seconds)


def bench_quant(quant: str, model: Path, bench: Path, rounds: int) -> dict[str, Runs]:
    texts = PromptTexts(model)
    runs = {label: Runs() for label in (*LAYOUTS, BENCH)}
    steps: dict[str, Callable[[int], None]] = {
        label: (lambda i, m=mmap, h=huge, r=runs[label]: engine_run(model, texts, m, h, i, r))
        for label, (mmap, huge) in LAYOUTS.items()
    }
    steps[BENCH] = lambda _i: runs[BENCH].samples.append(
        llama_bench(bench, model, threads=None, n_prompt=0)
    )
    order = list(steps)
    print(f"{quant} (background {background_cpu():.0%})", flush=True)
    for i in range(rounds):
        turn = order[i % len(order) :] + order[: i % len(order)]
        for label in turn:
            steps[label](i)
        print(
            f"  round {i + 1}: "
            + ", ".join(f"{k} {v.samples[-1].gen_tps:.1f}" for k, v in runs.items()),
            flush=True,
        )
    return runs


def _ratio(a: Runs, b: Runs, field_name: str) -> float:
    return statistics.median(
        getattr(x, field_name) / getattr(y, field_name)
        for x, y in zip(a.samples, b.samples, strict=True)
    )


def report(results: dict[str, dict[str, Runs]], rounds: int, load: str) -> str:
    m = read_machine_info(ROOT)
    lines = [
        f"{HEADING} ({dt.date.today().isoformat()})",
        "",
        f"Machine: {m.cpu_model}, {m.physical_cores} cores, {m.total_ram / 2**30:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, transparent huge pages "
        f"`{thp_mode() or 'not available'}`. llama-cpp-python {llama_cpp_python_version()}; "
        "llama-bench from the same llama.cpp (`benchmarks/native_tools.py`). Model: "
        f"random-weight Llama `realistic` shape (0.5B). {rounds} rounds, the four runs in a "
        "rotating order; medians, and medians of per-round ratios. Generation only: 128 tokens "
        "after a short prompt, automatic threads, flash attention, n_ctx 4096; every engine "
        "sample a fresh worker with a 4-token warm-up, llama-bench `-p 0 -n 128 -fa 1 -r 1` "
        "with its defaults. 'decode only': the engine's llama_decode time alone, as llama-bench "
        "times it. 'huge pages': the worker's memory on 2 MiB pages after the load "
        "(AnonHugePages + FilePmdMapped). Load average at start / end: "
        f"{load}. Command: `python benchmarks/worker_memory.py`.",
        "",
        _load_time_note(),
        "",
        "| quant | layout | gen tok/s | vs llama-bench | vs llama-bench, decode only "
        "| vs the default | huge pages MiB | RSS after load MiB | load s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for quant, runs in results.items():
        bench = runs[BENCH]
        for label, r in runs.items():
            if label == BENCH:
                lines.append(
                    f"| {quant} | {BENCH} (mmap, 4 KiB) | "
                    f"{statistics.median(s.gen_tps for s in r.samples):.1f} | 1 | 1 | "
                    f"{_ratio(r, runs[DEFAULT], 'gen_tps'):.3f} | | | |"
                )
                continue
            name = f"**{label}** (default)" if label == DEFAULT else label
            lines.append(
                f"| {quant} | {name} | {statistics.median(s.gen_tps for s in r.samples):.1f} | "
                f"{_ratio(r, bench, 'gen_tps'):.3f} | {_ratio(r, bench, 'gen_decode'):.3f} | "
                f"{_ratio(r, runs[DEFAULT], 'gen_tps'):.3f} | "
                f"{statistics.median(r.huge_mib):.0f} | {statistics.median(r.rss_mib):.0f} | "
                f"{statistics.median(r.load_s):.2f} |"
            )
    return "\n".join([*lines, ""])


def touch_seconds(huge: bool, size: int = 1 << 30) -> float:
    """Seconds to first touch ``size`` bytes of fresh anonymous memory on 2 MiB or 4 KiB pages
    (Linux: mmap and madvise through ctypes)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = 2 << 20
    base = libc.mmap(None, size + page, 3, 0x22, -1, 0)  # read|write, private|anonymous
    if base in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap failed")
    try:
        start = (base + page - 1) & ~(page - 1)
        libc.madvise(start, size, 14 if huge else 15)  # MADV_HUGEPAGE / MADV_NOHUGEPAGE
        began = time.perf_counter()
        ctypes.memset(start, 1, size)
        return time.perf_counter() - began
    finally:
        libc.munmap(base, size + page)


def _load_time_note() -> str:
    """Why loads on huge pages cost what they cost on this machine, measured."""
    small = statistics.median(touch_seconds(False) for _ in range(3))
    # The first 2 MiB touch takes blocks the host may have taken back; the next ones reuse
    # the blocks just freed, before they are reported.
    fresh, *reused = (touch_seconds(True) for _ in range(3))
    measured = (
        f"Touching 1 GiB of new memory here took {small:.2f} s on 4 KiB pages, {fresh:.2f} s "
        f"on 2 MiB pages the first time and {statistics.median(reused):.2f} s right after, "
        "when the blocks just freed had not yet gone back to the host."
    )
    order_file = Path("/sys/module/page_reporting/parameters/page_reporting_order")
    try:
        order = int(order_file.read_text().strip())
    except (OSError, ValueError):
        return f"Load time: {measured}"
    return (
        f"Load time: this machine is a virtual machine that reports free memory blocks of "
        f"{4 << order >> 10} MiB and up to its host (free page reporting, order {order}), which "
        "takes them back. A 2 MiB page is exactly such a block, so a load that faults in huge "
        f"pages waits for the host to hand them back. {measured} So huge pages themselves fault "
        "in faster than small ones; the extra load time in the table is the hypervisor's."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quants", default="F16,Q4_K_M")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.rounds < 6:
        parser.error("--rounds must be at least 6")
    bench = ensure_tool("llama-bench")
    models = ensure_models("realistic", args.quants.split(","))
    started = time.monotonic()
    load0 = os.getloadavg()[0]
    results = {q: bench_quant(q, path, bench, args.rounds) for q, path in models.items()}
    load = f"{load0:.2f} / {os.getloadavg()[0]:.2f}"
    print(f"done in {time.monotonic() - started:.0f} s")
    text = report(results, args.rounds, load)
    print(text)
    if not args.no_write:
        _write_section(Path(args.results), HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
