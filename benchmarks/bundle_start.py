"""How big is the Linux bundle, and how fast does it open a window?

Runs the bundled executable (dist/QuantDesk/QuantDesk) and, for comparison, the app from source
(`python -m desktop_app`) with ``--quit-after-show`` several times each, alternating, after one
warm-up run each (so the disk cache is warm, as the target says). Two clocks per run:

* internal: the app's own report, from the kernel's process start time (/proc/self/stat) to the
  first paint of a top-level window while exposed;
* external: from just before this script starts the process to the moment that report line
  arrives on the pipe.

Also ``--version`` (interpreter or bootloader start-up plus argparse, no Qt) and a
``python -X importtime`` breakdown of the heavy packages imported on the way to the window.
Writes a section of benchmarks/RESULTS.md. Target: median start to window under 2 s.

Usage: python benchmarks/bundle_start.py [--runs 7] [--bundle PATH] [--no-write]
(run `make bundle` first). Qt runs offscreen unless DISPLAY or WAYLAND_DISPLAY is set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fit_accuracy import _write_section  # noqa: E402
from desktop_app import __version__  # noqa: E402
from desktop_app.selftest import SHOWN_PREFIX  # noqa: E402

HEADING = "## Bundle size and start time"
TARGET_S = 2.0
SHOWN = re.compile(rf"^{SHOWN_PREFIX} ([\d.]+) s after process start \((\w+)\)$")
# Packages worth knowing about on the way to the first window (python -X importtime).
HEAVY = (
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "numpy",
    "llama_cpp",
    "jinja2",
    "huggingface_hub",
    "httpx2",
    "gguf",
    "psutil",
)


def disk_usage(path: Path) -> int:
    """Bytes on disk, like ``du -s`` (symbolic links count as themselves)."""
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


def time_to_window(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(internal s, external s, first window's class) of one start."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    internal, window, external = None, "", 0.0
    for line in proc.stdout:
        match = SHOWN.match(line.strip())
        if match:
            external = time.perf_counter() - started
            internal, window = float(match.group(1)), match.group(2)
    code = proc.wait(timeout=120)
    if internal is None or code != 0:
        raise RuntimeError(f"{command[0]}: no window reported (exit code {code})")
    return internal, external, window


def time_version(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*command, "--version"], capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def heavy_imports(env: dict[str, str]) -> list[tuple[str, float, str]]:
    """(package, cumulative ms, imported by) for HEAVY, from one source start."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "desktop_app", "--quit-after-show"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = []  # (depth, cumulative us, name), in the order Python printed them (children first)
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        rows.append((len(name) - len(name.lstrip()), int(parts[1]), name.strip()))
    found = []
    for i, (depth, cumulative, name) in enumerate(rows):
        if name in HEAVY:
            parent = next((n for d, _c, n in rows[i + 1 :] if d < depth), None)
            found.append(
                (name, cumulative / 1000, parent or "an import inside a function (at run time)")
            )
    return sorted(found, key=lambda r: -r[1])


def machine_line() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()} "
        f"{platform.release()}; load average {load:.1f} when measured (other work shares the "
        "cores)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "QuantDesk" / "QuantDesk")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not args.bundle.is_file():
        print(f"no bundle at {args.bundle}: run `make bundle` first", file=sys.stderr)
        return 1
    tarballs = sorted((ROOT / "dist").glob(f"QuantDesk-{__version__}-linux-*.tar.gz"))

    env = dict(os.environ, QUANTDESK_HOME=tempfile.mkdtemp(prefix="qd-bundle-start-"))
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    platform_name = env.get("QT_QPA_PLATFORM", "the desktop's")
    targets = {
        "bundle": [str(args.bundle), "--quit-after-show"],
        "source": [sys.executable, "-m", "desktop_app", "--quit-after-show"],
    }
    results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in targets}
    for command in targets.values():  # warm-up: disk cache, first-run folders, font cache
        time_to_window(command, env)
    for _ in range(args.runs):
        for name, command in targets.items():  # alternating, so both see the same load
            results[name].append(time_to_window(command, env))
    version_s = {
        "bundle": time_version([str(args.bundle)], env, args.runs),
        "source": time_version([sys.executable, "-m", "desktop_app"], env, args.runs),
    }
    imports = heavy_imports(env)

    size = disk_usage(args.bundle.parent)
    lines = [
        f"{HEADING} ({dt.date.today().isoformat()})",
        "",
        machine_line(),
        f"QuantDesk {__version__}, PyInstaller one-folder bundle (`make bundle`). Qt platform: "
        f"{platform_name}. Start to window = from the kernel's process start time to the first "
        "paint of the main window (`--quit-after-show`, the real `run_gui` path); external = "
        "from just before the process is started to the report arriving on its pipe. "
        f"Median of {args.runs} alternating runs after one warm-up each (warm disk cache). "
        "Command: `python benchmarks/bundle_start.py`.",
        "",
        f"Bundle `dist/QuantDesk/`: {size / 2**20:.0f} MiB on disk"
        + "".join(f"; `{t.name}`: {t.stat().st_size / 2**20:.0f} MiB" for t in tarballs)
        + ".",
        "",
        "| started as | start to window, median (min-max) | external, median | `--version` "
        "| first window painted |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        internal = [r[0] for r in runs]
        external = [r[1] for r in runs]
        label = (
            "bundle `dist/QuantDesk/QuantDesk`" if name == "bundle" else "`python -m desktop_app`"
        )
        lines.append(
            f"| {label} | {statistics.median(internal):.2f} s ({min(internal):.2f}-"
            f"{max(internal):.2f}) | {statistics.median(external):.2f} s | "
            f"{version_s[name]:.2f} s | {', '.join(sorted({r[2] for r in runs}))} |"
        )
    lines += [
        "",
        "Heavy imports on the way to the window (`python -X importtime`, one source start; "
        "cumulative, so nested packages count in their importer too):",
        "",
        "| package | ms | imported by |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {ms:.0f} | {parent} |" for name, ms, parent in imports]
    bundle_median = statistics.median(r[0] for r in results["bundle"])
    lines += [
        "",
        f"Target: under {TARGET_S:.0f} s to a visible window: "
        f"{'met' if bundle_median < TARGET_S else 'NOT met'} ({bundle_median:.2f} s).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        _write_section(ROOT / "benchmarks" / "RESULTS.md", HEADING, text)
    return 0 if bundle_median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
