"""How long does indexing the model library take, with and without the header cache?

Creates 1,000 GGUF files (600 in QuantDesk's layout, 200 in a fake LM Studio home, 200 in a
plain folder), each its own inode, then times:

* cold scans: no cache file, every header is read and validated;
* warm scans: a new LibraryIndex over the saved cache (as a new process would start), where
  unchanged files must only be stat'ed (target: under 2 s for 1,000 files);
* warm rescans on the same LibraryIndex (the app rescanning);
* a warm rescan after 10 files changed;
* grouping into families; and ``quantdesk list --json`` end to end, warm, in a new process.

By default each file is the tiny model's header followed by a hole up to the model's full size
(sparse): the scan never reads tensor data, so this measures the same work as real copies
without writing 3.4 GB. ``--full`` writes real byte-for-byte copies instead.

Usage:
    python benchmarks/library_scan.py [--files 1000] [--full] [--results benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from desktop_app.core.gguf_file import read_gguf_header  # noqa: E402
from desktop_app.core.hardware import read_machine_info  # noqa: E402
from desktop_app.core.library.families import group_families  # noqa: E402
from desktop_app.core.library.index import CACHE_FILE_NAME, LibraryIndex  # noqa: E402
from desktop_app.core.library.sources import (  # noqa: E402
    ModelSource,
    folder_source,
    lmstudio_source,
    own_models_source,
)
from desktop_app.core.synthetic_model import write_model  # noqa: E402
from fit_accuracy import _write_section  # noqa: E402

WORK = ROOT / "benchmarks" / ".cache" / "library-scan"
QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_M", "Q2_K", "F16", "Q5_0")
WARM_TARGET_S = 2.0


def make_files(count: int, full: bool, work: Path = WORK) -> tuple[list[Path], Path, Path, Path]:
    """(all files, QuantDesk home, fake user home, extra folder), freshly created in ``work``."""
    shutil.rmtree(work, ignore_errors=True)
    template = write_model(work / "template.gguf", "tiny")
    size = template.stat().st_size
    header = template.read_bytes()[: read_gguf_header(template).data_offset]
    qd_home, user_home, folder = work / "qd-home", work / "home", work / "folder"
    roots = [
        (qd_home / "models", int(count * 0.6)),
        (user_home / ".lmstudio" / "models", int(count * 0.2)),
    ]
    roots.append((folder, count - sum(n for _, n in roots)))
    files: list[Path] = []
    for root, n in roots:
        for i in range(n):
            group = i // len(QUANTS)  # one repo per 10 files, each a different quant
            repo = f"Model{group:03d}-{group % 7 + 1}B-Instruct-GGUF"
            path = root / f"publisher{group % 13:02d}" / repo / f"{repo[:-5]}-{QUANTS[i % 10]}.gguf"
            path.parent.mkdir(parents=True, exist_ok=True)
            if full:
                shutil.copyfile(template, path)
            else:
                with open(path, "wb") as f:
                    f.write(header)
                    f.truncate(size)  # the rest is a hole: valid for the header check
            files.append(path)
    template.unlink()
    return files, qd_home, user_home, folder


def timed(fn: object, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def cli_list_seconds(qd_home: Path, user_home: Path, folder: Path) -> float:
    env = dict(
        os.environ,
        QUANTDESK_HOME=str(qd_home),
        HOME=str(user_home),
        HF_HUB_CACHE=str(WORK / "no-hf-cache"),
        OLLAMA_MODELS=str(WORK / "no-ollama"),
        XDG_DATA_HOME=str(user_home / ".local" / "share"),
    )
    cmd = [sys.executable, "-m", "desktop_app", "list", "--json", "--folder", str(folder)]
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)  # warms the cache
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--full", action="store_true", help="real copies instead of sparse files")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--no-cli", action="store_true", help="skip the `quantdesk list` timing")
    args = parser.parse_args()

    print(f"creating {args.files} files ({'copies' if args.full else 'sparse'}) ...", flush=True)
    files, qd_home, user_home, folder = make_files(args.files, args.full)
    sources: list[ModelSource] = [
        own_models_source([qd_home / "models"]),
        lmstudio_source(user_home),
        folder_source(folder),
    ]
    cache = WORK / "cache" / CACHE_FILE_NAME

    def cold() -> object:
        cache.unlink(missing_ok=True)
        return LibraryIndex(cache).scan(sources)

    cold_s, snap = timed(cold, 3)
    assert len(snap.entries) == args.files, len(snap.entries)  # type: ignore[attr-defined]
    cache_bytes = cache.stat().st_size
    warm_new_s, snap = timed(lambda: LibraryIndex(cache).scan(sources), 5)
    assert snap.stats.read == 0, snap.stats  # type: ignore[attr-defined]
    index = LibraryIndex(cache)
    index.scan(sources)
    warm_same_s, _ = timed(lambda: index.scan(sources), 5)
    for path in files[:: max(1, len(files) // 10)][:10]:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
    start = time.perf_counter()
    changed = index.scan(sources)
    changed_s = time.perf_counter() - start
    assert changed.stats.read == 10, changed.stats
    group_s, families = timed(lambda: group_families(changed.entries), 5)
    cli_s = None if args.no_cli else cli_list_seconds(qd_home, user_home, folder)

    n = args.files
    rows = [
        ("cold scan (no cache: every header read)", cold_s),
        ("warm scan, new LibraryIndex (cache loaded from disk)", warm_new_s),
        ("warm rescan, same LibraryIndex", warm_same_s),
        ("rescan after 10 files changed (10 headers read)", changed_s),
        (f"group_families ({len(families)} families)", group_s),  # type: ignore[arg-type]
    ]
    if cli_s is not None:
        rows.append(("`quantdesk list --json`, warm, new process (incl. start-up)", cli_s))
    for label, secs in rows:
        print(f"{label:<62} {secs * 1000:8.1f} ms")
    passed = warm_new_s < WARM_TARGET_S
    print(f"warm target < {WARM_TARGET_S:.0f} s: {'met' if passed else 'MISSED'}")
    if args.no_write:
        return 0 if passed else 1

    machine = read_machine_info(WORK)
    kind = "real copies" if args.full else "header + hole, sparse"
    lines = [
        f"## Library scan ({dt.date.today().isoformat()})",
        "",
        f"Machine: {machine.cpu_model}, {machine.physical_cores} cores, "
        f"{machine.total_ram / 2**30:.1f} GiB RAM, {platform.system()} {platform.release()}.",
        f"{n} GGUF files of the tiny shape ({kind}), distinct inodes: 60% QuantDesk layout, "
        "20% LM Studio, 20% a user folder. "
        f"Header cache {cache_bytes / 1024:.0f} KiB. Median of 3 (cold) or 5 runs. Files are in "
        "the page cache (just written): this measures the index, not the disk. "
        "Command: `python benchmarks/library_scan.py`.",
        "",
        "| what | ms | per file µs |",
        "|---|---|---|",
    ]
    for label, secs in rows:
        per_file = f"{secs / n * 1e6:.0f}" if "group" not in label else "-"
        lines.append(f"| {label} | {secs * 1000:.1f} | {per_file} |")
    lines += [
        "",
        f"Warm scan target: under {WARM_TARGET_S:.0f} s for {n} files: "
        f"{'met' if passed else 'missed'} ({warm_new_s * 1000:.0f} ms).",
        "",
    ]
    _write_section(Path(args.results), "## Library scan", "\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
