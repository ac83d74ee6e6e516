"""Transparent huge pages for the model workers' large buffers (Linux with glibc).

Token generation streams every weight once per token, so the CPU walks the page tables of
hundreds of MiB per token. Most distributions ship transparent huge pages in ``madvise`` mode:
a process gets 2 MiB pages only where it asks for them, and llama.cpp never asks. glibc's
``glibc.malloc.hugetlb=1`` tunable makes malloc ask (madvise MADV_HUGEPAGE) for every block it
maps, which covers what llama.cpp allocates: the weights loaded without mmap, the repacked
Q4_K / Q4_0 copies, the KV cache and the compute buffers. Measured in benchmarks/RESULTS.md
("Worker memory: mmap and huge pages").

Tunables are read once, when a process starts, so the setting has to be in the environment a
worker is spawned with. ``enable_for_workers`` puts it in this process's environment once
(children inherit it); it is called where the app and the CLI start, before other threads
exist, and again by every ``ModelWorker`` (then a no-op). Setting it once matters: replacing
an environment variable while another thread reads the environment is a data race in C, while
a variable that is already set is left alone. A value the user chose (``glibc.malloc.hugetlb``
already present, or ``QUANTDESK_HUGE_PAGES=0``) is kept as it is.

Elsewhere (another libc, another OS, THP set to ``never``) the tunable is ignored and nothing
changes: the workers run as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

TUNABLES_ENV = "GLIBC_TUNABLES"
HUGETLB_TUNABLE = "glibc.malloc.hugetlb"
# "0" turns the tunable off for the workers (to measure without it, or on a system where huge
# pages hurt); anything else or unset: on.
OPT_OUT_ENV = "QUANTDESK_HUGE_PAGES"


def with_hugetlb(tunables: str) -> str:
    """``tunables`` (a GLIBC_TUNABLES value, colon-separated name=value pairs) with the malloc
    hugetlb tunable added; a value already given for it is kept."""
    pairs = [pair for pair in tunables.split(":") if pair]
    if any(pair.split("=", 1)[0] == HUGETLB_TUNABLE for pair in pairs):
        return ":".join(pairs)
    return ":".join([*pairs, f"{HUGETLB_TUNABLE}=1"])


def enable_for_workers(environ: MutableMapping[str, str] | None = None) -> bool:
    """Make processes started from now on allocate large buffers on huge pages; True when the
    tunable is in effect for them. Changes ``environ`` (default: os.environ) at most once."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or env.get(OPT_OUT_ENV) == "0":
        return False
    current = env.get(TUNABLES_ENV, "")
    wanted = with_hugetlb(current)
    if wanted != current:
        env[TUNABLES_ENV] = wanted
    return f"{HUGETLB_TUNABLE}=0" not in wanted.split(":")


def thp_mode() -> str:
    """The kernel's transparent huge page mode: "always", "madvise" (the tunable matters only
    here), "never", or "" where there is none."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        return text.split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        return ""


def huge_page_bytes(pid: int | str = "self") -> int:
    """Memory of process ``pid`` mapped with huge pages (anonymous and file-backed); 0 where
    the kernel does not report it."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    total = 0
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("AnonHugePages", "FilePmdMapped", "ShmemPmdMapped"):
            total += int(value.split()[0]) * 1024
    return total
