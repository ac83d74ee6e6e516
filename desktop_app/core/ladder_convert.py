"""The ladder's first step for a Hugging Face folder: convert it to GGUF in a worker process.

``ConvertStep`` runs ``desktop_app.core.convert.convert_hf_to_gguf`` in a spawned process (the
converter memory-maps safetensors files; a file truncated meanwhile raises SIGBUS, which only a
process boundary contains) and relays its progress. ``cancel`` kills the worker and deletes the
converter's temp file (``.<name>.<hex>.partial`` next to the output). Errors come back as the
converter's own ``ConvertError``; a dead worker as ``WorkerCrashedError``.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from desktop_app.core.engine.huge_pages import spawning
from desktop_app.core.errors import QuantDeskError
from desktop_app.core.quantize_errors import QuantizeCancelledError, WorkerCrashedError

# ConvertError's keyword facts, sent across the pipe as plain values.
_ERROR_FACTS = (
    "tensor",
    "field",
    "dtype",
    "architecture",
    "supported",
    "files",
    "expected",
    "actual",
    "needed",
    "available",
)


@dataclass(frozen=True)
class ConvertStepProgress:
    tensor_index: int  # 1-based, the tensor being written
    tensor_count: int
    tensor_name: str
    fraction: float  # by bytes, 0..1
    elapsed: float


def convert_worker_main(conn: Connection, source: str, output: str, outtype: str) -> None:
    """Runs in the spawned child."""
    os.dup2(2, 1)
    logging.getLogger().addHandler(logging.NullHandler())

    def watch_parent() -> None:
        with contextlib.suppress(EOFError, OSError):
            conn.recv()
        os._exit(3)  # the app is gone: stop (its temp file is removed by the next cleanup)

    threading.Thread(target=watch_parent, daemon=True).start()
    from desktop_app.core.convert import ConvertError, ConvertProgress, convert_hf_to_gguf

    def on_progress(p: ConvertProgress) -> None:
        conn.send(("progress", p.tensor_index, p.tensor_count, p.tensor_name,
                   p.bytes_done, p.bytes_total))  # fmt: skip

    try:
        convert_hf_to_gguf(source, output, outtype, on_progress=on_progress)
    except ConvertError as exc:
        facts = {k: getattr(exc, k) for k in _ERROR_FACTS}
        conn.send(("failed", exc.code, exc.detail, str(exc.path or ""), facts))
    except (QuantDeskError, OSError, MemoryError, ValueError) as exc:
        conn.send(("failed", "io_error", f"{type(exc).__name__}: {exc}", "", {}))
    else:
        conn.send(("done",))


class ConvertStep:
    """One conversion in a worker process; ``run`` blocks, ``cancel`` may come from any thread."""

    def __init__(
        self,
        source: Path,
        output: Path,
        outtype: str = "f16",
        on_progress: Callable[[ConvertStepProgress], None] | None = None,
    ) -> None:
        self.source = source
        self.output = output
        self.outtype = outtype
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._cancelled = False
        self._process: Any = None

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            process = self._process
        if process is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.kill()

    def run(self) -> Path:
        ctx = multiprocessing.get_context("spawn")
        conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=convert_worker_main,
            args=(child_conn, str(self.source), str(self.output), self.outtype),
            name="convert-worker",
            daemon=True,
        )
        with self._lock:
            if self._cancelled:
                raise QuantizeCancelledError("cancelled", path=self.source)
            with spawning(huge_pages=False):  # not measured with huge pages: as before
                process.start()
            self._process = process
        child_conn.close()
        started = time.monotonic()
        outcome: tuple[Any, ...] | None = None
        try:
            while True:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    break
                if message[0] == "progress" and self._on_progress is not None:
                    _, index, count, name, done, total = message
                    fraction = done / total if total else 0.0
                    elapsed = time.monotonic() - started
                    self._on_progress(ConvertStepProgress(index, count, name, fraction, elapsed))
                elif message[0] in ("done", "failed"):
                    outcome = message
        finally:
            conn.close()
            process.join(5.0)
            if process.exitcode is None:
                process.kill()
                process.join(5.0)
        with self._lock:
            cancelled = self._cancelled
        if cancelled or outcome is None or outcome[0] != "done":
            self._remove_partials()
        if cancelled:
            raise QuantizeCancelledError("cancelled", path=self.source)
        if outcome is not None and outcome[0] == "failed":
            from desktop_app.core.convert import ConvertError

            _, code, detail, path, facts = outcome
            raise ConvertError(code, detail, path=path or None, **facts)
        if outcome is None or process.exitcode != 0:
            code = process.exitcode
            name = ""
            if code is not None and code < 0:
                with contextlib.suppress(ValueError):
                    name = signal.Signals(-code).name
            raise WorkerCrashedError(code, name, path=self.source)
        return self.output

    def _remove_partials(self) -> None:
        for tmp in self.output.parent.glob(f".{glob.escape(self.output.name)}.*.partial"):
            with contextlib.suppress(OSError):
                tmp.unlink()
