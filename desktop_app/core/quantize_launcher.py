"""Starts quantize worker processes, and can keep one started ahead of the next job.

A fresh worker spends about 0.12 s before llama.cpp reads its first tensor: Python starts, the
modules and the native library load (benchmarks/RESULTS.md, quantize speed). On a Q8_0 job of a
1 GB file that is 5% of the whole run. A launcher made with ``keep_spare=True`` holds one worker
that has done all of that and waits for its request; ``launch`` hands it out and the next spare
starts once that job has ended (``job_ended``), when the machine is no longer busy quantizing,
so a spare never competes with a running job for the CPU. ``prime`` starts one before the first
job (the Convert page calls it once a source has been checked). A job may take a spare that is
still starting: it is ahead of a new process all the same. An idle spare costs one Python
process with llama.cpp loaded (about 40 MB); ``close`` ends it, and it exits by itself when the
app's end of its pipe closes.

Every worker, spare or fresh, gets its request over the pipe: ``launch`` returns the process
and the app's end of the pipe, and the caller sends the request there.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from desktop_app.core.engine.huge_pages import spawning
from desktop_app.core.quantize_worker import worker_main

log = logging.getLogger(__name__)

Launched = tuple[BaseProcess, Connection]


def spawn_worker() -> Launched:
    """A new worker process (spawned, never forked: the app has threads) and our pipe end."""
    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe(duplex=True)
    process = ctx.Process(target=worker_main, args=(child_conn,), name="quantize-worker")
    process.daemon = True
    try:
        with spawning(huge_pages=False):  # per-tensor buffers: 4 KiB pages are faster here
            process.start()
    except BaseException:
        conn.close()
        raise
    finally:
        child_conn.close()  # only the child holds its end: its death is an EOF on ours
    return process, conn


class QuantizeLauncher:
    """Hands out quantize workers; with ``keep_spare``, one is kept started ahead. Thread-safe."""

    def __init__(self, keep_spare: bool = True) -> None:
        self.keep_spare = keep_spare
        self._lock = threading.Lock()
        self._spare: Launched | None = None
        self._spare_ready = False  # its "ready" was read (by wait_ready)
        self._closed = False

    def launch(self) -> Launched:
        """A worker for one job: the spare when there is a live one (ready or still starting:
        either is ahead of a new process), else a new process."""
        with self._lock:
            spare, self._spare = self._spare, None
            self._spare_ready = False
        if spare is not None:
            if spare[0].is_alive():
                return spare
            _end(spare)  # it died while idle (killed from outside): start a new one
        return spawn_worker()

    def prime(self) -> None:
        """Start a spare unless there is one (spawning takes a few milliseconds; the worker's
        own start-up runs in the new process)."""
        with self._lock:
            if not self.keep_spare or self._closed or self._spare is not None:
                return
            try:
                self._spare, self._spare_ready = spawn_worker(), False
            except (OSError, RuntimeError):
                log.warning("could not start a spare quantize worker", exc_info=True)

    def job_ended(self) -> None:
        """A launched worker's job is over: the machine is free to start the next spare."""
        self.prime()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until the spare says it finished starting; for benchmarks and tests. False
        when there is no spare or it did not get ready in time."""
        with self._lock:
            spare = self._spare
            if spare is None:
                return False
            if self._spare_ready:
                return spare[0].is_alive()
            _process, conn = spare
            try:
                # Its first message; a job taking the spare later skips the missing "ready".
                self._spare_ready = bool(conn.poll(timeout)) and conn.recv() == ("ready",)
            except (EOFError, OSError):
                return False
            return self._spare_ready

    @property
    def spare_pid(self) -> int | None:
        with self._lock:
            return self._spare[0].pid if self._spare is not None else None

    def close(self) -> None:
        """End the spare (an idle process: killing it loses nothing); later calls start none."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            _end(spare)


def _end(launched: Launched) -> None:
    process, conn = launched
    conn.close()  # an idle worker exits on EOF by itself; kill makes sure
    with contextlib.suppress(OSError, ValueError):
        process.kill()
    process.join(5.0)
