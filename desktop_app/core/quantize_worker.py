"""The quantize worker process: ``worker_main(conn)`` runs in a spawned child.

It imports what it needs and loads llama.cpp first, says ``("ready",)``, then waits for its one
request (a dict) on the pipe: a worker can be started ahead of its job (quantize_launcher.py);
the pipe closing before a request arrives ends it quietly. It makes one llama_model_quantize
call and reports over the pipe, as plain tuples:

* ``("progress", i, n, tensor_name)`` when llama.cpp starts tensor i of n,
* ``("log", level, line)`` for llama.cpp lines at WARNING or above,
* last, ``("done", versions)`` or ``("failed", code, detail, reason)``.

If the process dies instead (a native abort), the app sees the pipe close without a last
message and reports a crash. A watcher thread exits the worker when the app's end of the pipe
closes (the app quit or died), deleting the partial output first. With ``durable`` (the
default) the output is flushed to disk while it is written and fsynced before "done", so the
app can rename it into place knowing the data is on disk. Nothing the worker or native code
prints reaches the app's stdout: fd 1 is pointed at fd 2.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TEST_HOOKS_ENV = "QUANTDESK_QUANTIZE_TEST_HOOKS"
TEST_HOOK_ENV = "QUANTDESK_QUANTIZE_TEST_HOOK"


class _Hook:
    """The test hook from the environment, active only when TEST_HOOKS_ENV is "1"."""

    def __init__(self) -> None:
        spec = os.environ.get(TEST_HOOK_ENV, "") if os.environ.get(TEST_HOOKS_ENV) == "1" else ""
        kind, _, arg = spec.partition(":")
        self.kind = kind
        self.arg = float(arg) if arg else 0.0

    def at_tensor(self, index: int) -> None:
        if self.kind == "slow":
            time.sleep(self.arg)
        elif self.kind == "abort" and index >= self.arg:
            os.abort()


def _versions(lcpp: Any) -> dict[str, str]:
    versions: dict[str, str] = {}
    if getattr(lcpp, "__version__", None):  # absent when only the bindings are loaded
        versions["llama_cpp_python"] = str(lcpp.__version__)
    try:
        raw = lcpp.llama_version()
        versions["llama_cpp"] = raw.decode() if isinstance(raw, bytes) else str(raw)
    except (AttributeError, OSError, UnicodeDecodeError):
        pass
    return versions


class _Flusher:
    """Writes the output to disk while llama.cpp is still producing it.

    A durable result needs an fsync before the rename; done only at the end it would wait for
    the whole file (0.2-0.3 s for 0.5 GB here). A background thread instead asks for the data
    written so far every ``interval`` seconds (the GIL is released during fdatasync), so the
    final fsync finds little left. The output keeps its inode while llama.cpp truncates and
    rewrites it, so one descriptor opened up front follows it.
    """

    def __init__(self, path: Path, interval: float = 0.25) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        _run_only_when_a_core_is_idle()
        while not self._stop.wait(self._interval):
            try:
                os.fdatasync(self._fd)
            except OSError:
                return

    def finish(self, sync: bool) -> None:
        self._stop.set()
        self._thread.join()
        try:
            if sync:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)


def _run_only_when_a_core_is_idle() -> None:
    """Put the calling thread in Linux's SCHED_IDLE class (allowed without privileges).

    The flusher's fdatasync spends CPU on writeback (block allocation, I/O submission) while
    llama.cpp's threads keep the cores busy; at normal priority that slowed a Q8_0 job by about
    5%. Idle class, it runs in the gaps (llama.cpp writes each tensor from one thread), and
    whatever it could not flush is left to the final fsync. Elsewhere this does nothing.
    """
    if hasattr(os, "SCHED_IDLE") and hasattr(os, "sched_setscheduler"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _watch_parent(conn: Connection, output: Path) -> None:
    """The app never sends anything; EOF means it is gone, so stop and clean up."""
    try:
        conn.recv()
    except (EOFError, OSError):
        pass
    try:
        output.unlink(missing_ok=True)
    finally:
        os._exit(3)


def worker_main(conn: Connection) -> None:
    os.dup2(2, 1)
    # llama.cpp's lines travel to the app; nothing is printed here (no last-resort handler).
    logging.getLogger().addHandler(logging.NullHandler())
    from desktop_app.core import llama_backend
    from desktop_app.core.errors import QuantDeskError, QuantizeError
    from desktop_app.core.quantize import PROGRESS_RE, run_llama_quantize
    from desktop_app.core.quantize_errors import ImatrixError, NotEnoughDiskError

    try:
        try:
            lcpp = llama_backend.bindings()
        except QuantDeskError as exc:  # llama.cpp cannot be loaded: instead of "ready"
            conn.send(("failed", "quantize_failed", f"{type(exc).__name__}: {exc}", ""))
            return
        conn.send(("ready",))
        request: dict[str, Any] = conn.recv()
    except (EOFError, OSError):
        return  # the app went away (or closed a spare) before there was work
    output = Path(request["output"])
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    threading.Thread(target=_watch_parent, args=(conn, output), daemon=True).start()
    hook = _Hook()
    hook.at_tensor(0)
    try:
        imatrix = None
        if request.get("imatrix"):
            from desktop_app.core.imatrix import load_imatrix

            imatrix = load_imatrix(request["imatrix"])

        def on_line(level: int, line: str) -> None:
            match = PROGRESS_RE.search(line)
            if match:
                index = int(match.group(1))
                send(("progress", index, int(match.group(2)), match.group(3)))
                hook.at_tensor(index)
            elif level >= logging.WARNING:
                send(("log", level, line.strip()))

        durable = bool(request.get("durable", True))
        flusher = _Flusher(output) if durable else None
        try:
            run_llama_quantize(
                Path(request["source"]),
                output,
                int(request["ftype"]),
                threads=int(request["threads"]),
                allow_requantize=bool(request["allow_requantize"]),
                imatrix=imatrix,
                on_line=on_line,
            )
        finally:
            if flusher is not None:
                flusher.finish(sync=output.exists())
        send(("done", _versions(lcpp)))
    except NotEnoughDiskError as exc:
        send(("failed", "not_enough_disk", str(exc.free), ""))
    except ImatrixError as exc:
        output.unlink(missing_ok=True)
        send(("failed", "imatrix_invalid", exc.detail, exc.imatrix_problem))
    except QuantizeError as exc:
        send(("failed", exc.code, exc.detail, exc.reason))
    except (QuantDeskError, OSError, MemoryError, ValueError) as exc:
        output.unlink(missing_ok=True)
        send(("failed", "quantize_failed", f"{type(exc).__name__}: {exc}", ""))
    # The pipe is left open: closing it here could wake the watcher, which deletes the output
    # the app is about to move into place. It closes when the process exits.
