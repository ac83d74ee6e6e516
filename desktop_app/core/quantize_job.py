"""Quantize one GGUF file in a worker process: checks first, progress, cancel, crash isolation.

``QuantizeJob(source, destination, label)`` checks everything it can before llama.cpp runs
(``prepare``: file type known and writable, importance matrix present when the type needs one,
the source valid GGUF by QuantDesk's own reader, re-quantizing refused unless allowed, the
destination free and writable, enough disk for the estimated size), then ``start`` takes a
worker process (spawned, or a spare started ahead by a ``QuantizeLauncher``) and sends it the
request; it calls llama_model_quantize, so a native abort kills only the worker. Progress comes
from llama.cpp's per-tensor log lines, parsed in the worker and sent over a pipe; the app's side
weighs each tensor by its size, so the fraction tracks time better than "tensor i of n" does.
``cancel`` kills the worker and deletes its temp file. The output is written to
``.<name>.<id>.partial`` in the destination folder and moved into place only when complete and
valid, without ever replacing a file that appeared meanwhile; with ``durable`` (the default)
the worker fsyncs the file and the app the folder around that rename, so a power cut cannot
leave a half-written model under the final name. A provenance sidecar (``provenance.py``) is
written next to it.

Events go to ``on_event`` **on the job's reader thread**: ``QuantizeProgress`` per tensor, then
one ``QuantizeFinished``. ``wait`` blocks for the result or raises the job's typed error
(``quantize_errors``; an invalid source raises the reader's ``GGUFError``/``FileAccessError``).

Test hooks (honoured only with QUANTDESK_QUANTIZE_TEST_HOOKS=1 in the environment):
QUANTDESK_QUANTIZE_TEST_HOOK=``slow:SECONDS`` sleeps in the worker at every tensor,
``abort:N`` calls os.abort() when tensor N starts (0: before llama.cpp runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.atomic import fsync_folder
from desktop_app.core.errors import QuantDeskError, QuantizeError
from desktop_app.core.gguf_file import GGUFError, read_gguf_header
from desktop_app.core.provenance import backend_versions, fingerprint, write_sidecar
from desktop_app.core.quantize_errors import (
    FALLBACK_WARNING,
    NotEnoughDiskError,
    QuantizeCancelledError,
    SourceChangedError,
    WorkerCrashedError,
)
from desktop_app.core.quantize_launcher import QuantizeLauncher, spawn_worker
from desktop_app.core.quantize_output import move_into_place, reserve_temp
from desktop_app.core.quantize_plan import QuantizePlan, plan_quantize
from desktop_app.core.quantize_worker import TEST_HOOKS_ENV

log = logging.getLogger(__name__)
worker_log = logging.getLogger("desktop_app.quantize.worker")

__all__ = [
    "TEST_HOOKS_ENV",
    "QuantizeEvent",
    "QuantizeFinished",
    "QuantizeJob",
    "QuantizeProgress",
    "QuantizeResult",
]


@dataclass(frozen=True)
class QuantizeProgress:
    """``done`` of ``total`` tensors finished; ``fraction`` weighs them by size (0..1)."""

    done: int
    total: int
    fraction: float
    tensor: str
    elapsed: float


@dataclass(frozen=True)
class QuantizeResult:
    plan: QuantizePlan
    destination: Path
    output_bytes: int
    seconds: float
    warnings: tuple[str, ...]
    fallback_tensors: int  # tensors llama.cpp stored in a fallback type (its log says so)
    versions: dict[str, str] = field(default_factory=dict)
    sidecar: Path | None = None


@dataclass(frozen=True)
class QuantizeFinished:
    """The job's last event: exactly one of ``result`` and ``error`` is set."""

    result: QuantizeResult | None
    error: QuantDeskError | None


QuantizeEvent = QuantizeProgress | QuantizeFinished


class QuantizeJob:
    """One quantization. ``start``/``cancel``/``wait`` may be called from any thread."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        destination: str | os.PathLike[str],
        label: str,
        threads: int = 0,
        allow_requantize: bool = False,
        imatrix: str | os.PathLike[str] | None = None,
        *,
        on_event: Callable[[QuantizeEvent], None] | None = None,
        provenance: dict[str, Any] | None = None,
        write_provenance: bool = True,
        launcher: QuantizeLauncher | None = None,
        durable: bool = True,
    ) -> None:
        self.source = Path(source)
        self.destination = Path(destination)
        self.label = label
        self.threads = threads
        self.allow_requantize = allow_requantize
        self.imatrix = Path(imatrix) if imatrix is not None else None
        self._on_event = on_event
        self._extra_provenance = dict(provenance or {})
        self._write_provenance = write_provenance
        self._durable = durable
        self._launcher = launcher
        self._plan: QuantizePlan | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._cancelled = False
        self._started = False
        self._process: Any = None
        self._reader: threading.Thread | None = None
        self._tmp: Path | None = None
        self._result: QuantizeResult | None = None
        self._error: QuantDeskError | None = None
        self._progress: QuantizeProgress | None = None

    # --- state --------------------------------------------------------------------------------

    @property
    def plan(self) -> QuantizePlan | None:
        return self._plan

    @property
    def progress(self) -> QuantizeProgress | None:
        return self._progress

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def result(self) -> QuantizeResult | None:
        return self._result

    @property
    def error(self) -> QuantDeskError | None:
        return self._error

    @property
    def temp_path(self) -> Path | None:
        """Where the worker writes (exists only while it runs)."""
        return self._tmp

    # --- control ------------------------------------------------------------------------------

    def prepare(self) -> QuantizePlan:
        """Run every check and estimate (no process is started); raises the typed errors."""
        if self._plan is None:
            self._plan = plan_quantize(
                self.source,
                self.destination,
                self.label,
                threads=self.threads,
                allow_requantize=self.allow_requantize,
                imatrix=self.imatrix,
            )
        return self._plan

    def start(self) -> QuantizePlan:
        """Check, then spawn the worker. Check failures raise here and nothing is started."""
        with self._lock:
            if self._started:
                raise RuntimeError("a QuantizeJob can be started once")
            self._started = True
            if self._cancelled:
                raise QuantizeCancelledError("cancelled before it started", path=self.source)
        try:
            plan = self.prepare()
            tmp = plan.destination.with_name(
                f".{plan.destination.name}.{uuid.uuid4().hex[:8]}.partial"
            )
            reserve_temp(tmp)
        except QuantDeskError as exc:
            self._finish(None, exc)
            raise
        except OSError as exc:  # the source vanished between reading and stat, and the like
            error = QuantizeError(f"{type(exc).__name__}: {exc}", path=self.source)
            self._finish(None, error)
            raise error from exc
        self._tmp = tmp
        request = {
            "source": str(plan.source),
            "output": str(tmp),
            "ftype": plan.file_type.ftype,
            "threads": self.threads,
            "allow_requantize": plan.requantize,
            "imatrix": str(self.imatrix) if self.imatrix else None,
            "durable": self._durable,
        }
        self._started_at = time.monotonic()
        try:
            process, conn = self._launcher.launch() if self._launcher else spawn_worker()
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            self._finish(None, QuantizeError(f"cannot start the worker: {exc}", path=self.source))
            raise
        with contextlib.suppress(OSError):
            conn.send(request)  # a worker that died already shows as a crash in _read
        with self._lock:
            self._process = process
        if self._was_cancelled():  # cancel() ran while the process was starting
            process.kill()
        self._reader = threading.Thread(
            target=self._read, args=(conn, plan), name="quantize-events", daemon=True
        )
        self._reader.start()
        return plan

    def cancel(self) -> None:
        """Kill the worker and delete its temp file. Returns once that is done (the job then
        ends with QuantizeCancelledError); does nothing after the job finished."""
        with self._lock:
            if self._finished.is_set():
                return
            self._cancelled = True
            process = self._process
            started = self._started
        if not started:
            self._finish(None, QuantizeCancelledError("cancelled", path=self.source))
            return
        if process is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.kill()
        if threading.current_thread() is not self._reader:
            self._finished.wait(10.0)

    def wait(self, timeout: float | None = None) -> QuantizeResult:
        """Block until the job ends; its result, or its typed error raised."""
        if not self._started and not self._finished.is_set():
            raise RuntimeError("the job was not started")
        if not self._finished.wait(timeout):
            raise TimeoutError(f"quantize job still running after {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def run(self, timeout: float | None = None) -> QuantizeResult:
        """start() then wait()."""
        self.start()
        return self.wait(timeout)

    # --- plumbing (reader thread) ---------------------------------------------------------------

    def _was_cancelled(self) -> bool:
        with self._lock:
            return self._cancelled

    def _emit(self, event: QuantizeEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("quantize on_event failed for %s", type(event).__name__)

    def _read(self, conn: Any, plan: QuantizePlan) -> None:
        outcome: tuple[Any, ...] | None = None
        fallbacks = 0
        tracker = _ProgressTracker(plan)
        try:
            while True:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    break
                except Exception:  # noqa: BLE001 - one bad message must not stall the job
                    log.warning("undecodable message from the quantize worker", exc_info=True)
                    continue
                kind = message[0]
                if kind == "ready":  # a freshly spawned worker finished starting
                    continue
                if kind == "progress":
                    self._progress = tracker.update(
                        message[1], message[2], message[3], self._elapsed()
                    )
                    self._emit(self._progress)
                elif kind == "log":
                    level, line = int(message[1]), str(message[2])
                    if "falling back" in line:
                        fallbacks += 1
                    # Kept for the log at DEBUG: failures come back as typed errors carrying
                    # llama.cpp's reason, and fallbacks as a warning code with a count.
                    worker_log.debug("%s: %s", logging.getLevelName(level), line)
                elif kind in ("done", "failed"):
                    outcome = message
                    if kind == "done":
                        # The output is complete and synced: finish without waiting for the
                        # worker to exit (~15 ms). Our end of the pipe stays open until the
                        # output is moved, or the worker's watcher would delete it.
                        break
        except BaseException:
            conn.close()
            raise
        try:
            result = self._conclude(plan, outcome, fallbacks, tracker)
        except QuantDeskError as exc:
            self._cleanup()
            self._finish(None, exc)
        except Exception as exc:  # noqa: BLE001 - the job must end, whatever went wrong
            log.exception("quantize job failed unexpectedly")
            self._cleanup()
            self._finish(None, QuantizeError(f"{type(exc).__name__}: {exc}", path=self.source))
        else:
            self._finish(result, None)
        finally:
            conn.close()
            self._process.join(5.0)  # reap the worker (it is already exiting)

    def _elapsed(self) -> float:
        return time.monotonic() - self._started_at

    def _conclude(
        self,
        plan: QuantizePlan,
        outcome: tuple[Any, ...] | None,
        fallbacks: int,
        tracker: _ProgressTracker,
    ) -> QuantizeResult:
        process = self._process
        finished = outcome is not None and outcome[0] == "done"
        if not finished:
            process.join(5.0)
            if process.exitcode is None:  # the pipe closed but the process lingers: end it
                process.kill()
                process.join(5.0)
        if self._cancelled:
            raise QuantizeCancelledError("cancelled", path=plan.source)
        if outcome is not None and outcome[0] == "failed":
            _, code, detail, reason = outcome
            if code == "not_enough_disk":
                raise NotEnoughDiskError(
                    plan.disk_needed, int(detail), path=plan.destination.parent
                )
            if code == "imatrix_invalid":
                from desktop_app.core.quantize_errors import ImatrixError

                raise ImatrixError(reason or "invalid", detail, path=self.imatrix)
            raise QuantizeError(detail, path=plan.source, reason=reason)
        if not finished or outcome is None:
            code = process.exitcode
            name = ""
            if code is not None and code < 0:
                with contextlib.suppress(ValueError):
                    name = signal.Signals(-code).name
            raise WorkerCrashedError(code, name, path=plan.source)
        versions = {**backend_versions(), **outcome[1]}
        assert self._tmp is not None
        try:
            st = os.stat(plan.source)
        except OSError as exc:
            raise SourceChangedError(f"source vanished: {exc}", path=plan.source) from exc
        if (st.st_size, st.st_mtime_ns) != (plan.source_size, plan.source_mtime_ns):
            raise SourceChangedError("the source changed while quantizing", path=plan.source)
        try:
            read_gguf_header(self._tmp)
        except GGUFError as exc:
            raise QuantizeError("llama.cpp wrote an invalid file", path=plan.source) from exc
        move_into_place(self._tmp, plan.destination)
        if self._durable:
            fsync_folder(plan.destination.parent)
        seconds = self._elapsed()
        self._progress = tracker.complete(seconds)
        self._emit(self._progress)
        warnings = list(plan.warnings)
        if fallbacks and FALLBACK_WARNING not in warnings:
            warnings.append(FALLBACK_WARNING)
        output_bytes = plan.destination.stat().st_size
        result = QuantizeResult(
            plan=plan,
            destination=plan.destination,
            output_bytes=output_bytes,
            seconds=seconds,
            warnings=tuple(warnings),
            fallback_tensors=fallbacks,
            versions=versions,
        )
        if self._write_provenance:
            result = _with_sidecar(result, self._extra_provenance, self.imatrix)
        return result

    def _cleanup(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)

    def _finish(self, result: QuantizeResult | None, error: QuantDeskError | None) -> None:
        if self._launcher is not None and self._process is not None and not self.done:
            # Before waiters wake: a ladder's next step then finds the spare already started.
            self._launcher.job_ended()
        with self._lock:
            if self._finished.is_set():
                return
            self._result, self._error = result, error
            self._finished.set()  # before the event, so a listener may call wait()
        self._emit(QuantizeFinished(result, error))


class _ProgressTracker:
    """Turns "tensor i of n starts" lines into size-weighted progress."""

    def __init__(self, plan: QuantizePlan) -> None:
        self._sizes = plan.tensor_elements
        self._total_elements = max(1, sum(self._sizes.values()))
        self._done_elements = 0
        self._current: str | None = None
        self._total = plan.tensor_count

    def update(self, index: int, total: int, name: str, elapsed: float) -> QuantizeProgress:
        if self._current is not None:
            self._done_elements += self._sizes.get(self._current, 0)
        self._current = name
        self._total = total
        fraction = min(1.0, self._done_elements / self._total_elements)
        return QuantizeProgress(index - 1, total, fraction, name, elapsed)

    def complete(self, elapsed: float) -> QuantizeProgress:
        return QuantizeProgress(self._total, self._total, 1.0, "", elapsed)


def _with_sidecar(
    result: QuantizeResult, extra: dict[str, Any], imatrix: Path | None
) -> QuantizeResult:
    plan = result.plan
    source = fingerprint(plan.source, plan.header_bytes).to_json()
    source["file_type"] = plan.source_type
    record: dict[str, Any] = {
        "source": source,
        "output": {
            "file": result.destination.name,
            "file_type": plan.file_type.label,
            "size": result.output_bytes,
        },
        "llama_cpp": result.versions,
        "options": {
            "threads": plan.threads,
            "allow_requantize": plan.requantize,
            "imatrix": str(imatrix.resolve()) if imatrix else None,
        },
        "seconds": round(result.seconds, 3),
        "warnings": list(result.warnings),
        "fallback_tensors": result.fallback_tensors,
    }
    record.update(extra)
    try:
        path = write_sidecar(result.destination, record)
    except OSError:
        # The model itself is complete; a missing record must not fail the job.
        log.warning("could not write the provenance record for %s", result.destination)
        return result
    return dataclasses.replace(result, sidecar=path)
