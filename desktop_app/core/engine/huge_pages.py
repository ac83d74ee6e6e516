"""Transparent huge pages for the model workers' large buffers (Linux with glibc).

Token generation streams every weight once per token, so the CPU walks the page tables of
hundreds of MiB per token. Most distributions ship transparent huge pages in ``madvise`` mode:
a process gets 2 MiB pages only where it asks for them, and llama.cpp never asks. glibc's
``glibc.malloc.hugetlb=1`` tunable makes malloc ask (madvise MADV_HUGEPAGE) for every block it
maps, which covers what llama.cpp allocates: the weights loaded without mmap, the repacked
Q4_K / Q4_0 copies, the KV cache and the compute buffers. Measured in benchmarks/RESULTS.md
("Worker memory: mmap and huge pages").

Tunables are read once, when a process starts, so the setting has to be in the environment a
worker is spawned with, and only a model worker's: quantize workers allocate and free a buffer
per tensor, and there fresh 2 MiB pages cost more than they give (Q8_0 quantize ran at 0.88x
llama-quantize's speed with them, 1.04x without). ``spawning(huge_pages)`` holds a lock while a
child starts and sets GLIBC_TUNABLES for that start only; quantize and convert workers start
under the same lock, so they never inherit a model worker's setting. The variable is only
ever replaced, never added or removed at run time (``prepare_environment`` adds it, possibly
empty, where the program starts): adding or removing one moves the C environment under a
concurrent getenv, while replacing a value does not. A value the user chose
(``glibc.malloc.hugetlb`` already in GLIBC_TUNABLES, or ``QUANTDESK_HUGE_PAGES=0``) is kept.

Elsewhere (another libc, another OS, THP set to ``never``) the tunable is ignored and nothing
changes: the workers run as before.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
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


def worker_tunables(environ: Mapping[str, str]) -> str | None:
    """GLIBC_TUNABLES for a model worker started from ``environ``; None: leave it as it is."""
    if not sys.platform.startswith("linux") or environ.get(OPT_OUT_ENV) == "0":
        return None
    return with_hugetlb(environ.get(TUNABLES_ENV, ""))


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Where the program starts, before other threads: make GLIBC_TUNABLES exist, so that
    ``spawning`` only ever replaces its value."""
    env = os.environ if environ is None else environ
    if sys.platform.startswith("linux"):
        env.setdefault(TUNABLES_ENV, "")


_spawn_lock = threading.Lock()


@contextmanager
def spawning(huge_pages: bool) -> Iterator[None]:
    """Hold while starting a child process (multiprocessing's spawn): the child starts with the
    huge-page tunable when ``huge_pages`` is set, with this process's own setting otherwise."""
    with _spawn_lock:
        before = os.environ.get(TUNABLES_ENV)
        wanted = worker_tunables(os.environ) if huge_pages else None
        if wanted is None or wanted == before:
            yield
            return
        os.environ[TUNABLES_ENV] = wanted
        try:
            yield
        finally:
            os.environ[TUNABLES_ENV] = before or ""


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
