"""The app's side of a model worker: spawn it, send requests, deliver its events (no Qt).

``ModelWorker`` starts one worker process (spawn context: no forked copy of the app's threads or
Qt state, and the same behaviour on every OS) and a reader thread that receives events and calls
``on_event(event)``. **on_event runs on that reader thread**; the UI bridge marshals events to
the GUI thread, and anything slow in on_event delays the worker (the pipe fills up).

Each method sends one request and returns its id; the request ends with exactly one terminal
event carrying that id (see protocol.py). If the process dies (a native abort, a segfault, the
OOM killer), the reader emits ``Failed(WORKER_CRASHED)`` for every request still open (or for id
0 when none is), with the exit code and signal name in ``facts``, and stops.

``SyncWorker`` is a small blocking wrapper for the CLI, benchmarks and tests.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psutil

from desktop_app.core import llama_backend
from desktop_app.core.closing import ClosesOnExit
from desktop_app.core.engine.errors import DoesNotFitError, EngineTimeoutError, WorkerStoppedError
from desktop_app.core.engine.huge_pages import spawning
from desktop_app.core.engine.protocol import (
    TERMINAL_EVENTS,
    CancelRequest,
    ChatMessage,
    CountChatTokensRequest,
    DetokenizeRequest,
    ErrorCode,
    Event,
    Failed,
    GenerateRequest,
    LoadRequest,
    LoadSettings,
    Log,
    SamplingParams,
    ScoreRequest,
    ShutdownRequest,
    TokenizeRequest,
    UnloadRequest,
)
from desktop_app.core.engine.worker_main import worker_main
from desktop_app.core.errors import QuantDeskError
from desktop_app.core.fit import FitEstimate, LoadPlan, Verdict, estimate_fit
from desktop_app.core.model_facts import read_model_facts

log = logging.getLogger(__name__)
worker_log = logging.getLogger("desktop_app.engine.worker")


def check_fit(
    settings: LoadSettings,
    *,
    available: int | None = None,
    cpu_features: Iterable[str] | None = None,
) -> FitEstimate | None:
    """The fit estimate for loading ``settings``; None when the file cannot be read as GGUF or the
    settings are invalid (the worker checks again and answers FILE_INVALID or BAD_REQUEST)."""
    try:
        facts = read_model_facts(settings.path)
    except QuantDeskError:
        return None
    plan = LoadPlan(
        n_ctx=settings.n_ctx,
        kv_type=settings.kv_type,
        flash_attn=settings.flash_attn,
        n_batch=settings.n_batch,
        n_ubatch=settings.n_ubatch,
        use_mmap=settings.use_mmap,
    )
    if available is None:
        available = int(psutil.virtual_memory().available)
    features = llama_backend.cpu_features() if cpu_features is None else tuple(cpu_features)
    try:
        return estimate_fit(facts, plan, available, cpu_features=features)
    except ValueError:  # a bad setting (kv_type): the worker answers BAD_REQUEST
        return None


class ModelWorker(ClosesOnExit):
    """One model worker process. Methods are thread-safe and never block on the worker."""

    def __init__(self, on_event: Callable[[Event], None], *, name: str = "model-worker") -> None:
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards _pending, _closed, _shutting_down
        self._send_lock = threading.Lock()
        self._pending: set[int] = set()
        self._closed = False
        self._shutting_down = False
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=worker_main, args=(child_conn,), name=name, daemon=True)
        with spawning(huge_pages=True):  # the worker's malloc uses 2 MiB pages
            self._process.start()
        # Only the child may hold its end: then the child's death is an EOF on ours.
        child_conn.close()
        self._reader = threading.Thread(
            target=self._read_events, name=f"{name}-events", daemon=True
        )
        self._reader.start()

    # --- properties -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive() and not self._closed

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    # --- requests ---------------------------------------------------------------------------

    def request(self, make: Callable[[int], object]) -> int:
        """Send ``make(request_id)``; the low-level form of every method below."""
        request_id = next(self._ids)
        request = make(request_id)
        with self._lock:
            if self._closed or self._shutting_down:
                raise WorkerStoppedError("the model worker has stopped")
            self._pending.add(request_id)
        try:
            self._send(request)
        except (OSError, EOFError, ValueError) as exc:
            with self._lock:
                claimed = request_id in self._pending
                self._pending.discard(request_id)
            if claimed:  # else the reader already reported the crash for it
                raise WorkerStoppedError(f"the model worker has stopped: {exc}") from exc
        return request_id

    def load(
        self,
        settings: LoadSettings,
        *,
        force: bool = False,
        available: int | None = None,
        cpu_features: Iterable[str] | None = None,
    ) -> int:
        """Load a model (replacing any loaded one). Raises DoesNotFitError when the estimate
        exceeds available memory, unless ``force`` ("Load anyway"). The estimate runs here, in
        the caller's process (it reads the GGUF header: tens of milliseconds for a big
        vocabulary); ``available`` overrides psutil's figure."""
        if not force:
            fit = check_fit(settings, available=available, cpu_features=cpu_features)
            if fit is not None and fit.verdict == Verdict.DOES_NOT_FIT:
                raise DoesNotFitError(fit, path=settings.path)
        return self.request(lambda rid: LoadRequest(rid, settings))

    def generate(
        self,
        *,
        messages: Sequence[ChatMessage] | None = None,
        prompt: str | None = None,
        sampling: SamplingParams | None = None,
    ) -> int:
        msgs = tuple(messages) if messages is not None else None
        sp = sampling or SamplingParams()
        return self.request(lambda rid: GenerateRequest(rid, sp, messages=msgs, prompt=prompt))

    def score(
        self,
        tokens: Sequence[int],
        *,
        first: int = 0,
        top_k: int = 0,
        reference_out: str | None = None,
        reference_in: str | None = None,
    ) -> int:
        """Teacher-forced scoring of ``tokens`` (see ScoreRequest); ends with Scored."""
        toks = tuple(int(t) for t in tokens)
        return self.request(
            lambda rid: ScoreRequest(rid, toks, first, top_k, reference_out, reference_in)
        )

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> int:
        return self.request(lambda rid: TokenizeRequest(rid, text, add_bos, special))

    def detokenize(self, tokens: Sequence[int]) -> int:
        return self.request(lambda rid: DetokenizeRequest(rid, tuple(tokens)))

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return self.request(lambda rid: CountChatTokensRequest(rid, tuple(messages)))

    def unload(self) -> int:
        return self.request(lambda rid: UnloadRequest(rid))

    def cancel(self, request_id: int | None = None) -> None:
        """Stop ``request_id`` (None: whatever runs). Its own terminal event says how it ended."""
        try:
            self._send(CancelRequest(request_id or 0))
        except (OSError, EOFError, ValueError):
            pass  # the worker is gone; its requests end with WORKER_CRASHED

    def shutdown(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit, then terminate, then kill; returns within ~timeout + 4 s.
        Requests still open end with Failed(CANCELLED)."""
        with self._lock:
            self._shutting_down = True
        if self._process.is_alive():
            try:
                self._send(ShutdownRequest(next(self._ids)))
            except (OSError, EOFError, ValueError):
                pass
            self._process.join(timeout)
        for stop in (self._process.terminate, self._process.kill):
            if not self._process.is_alive():
                break
            stop()
            self._process.join(2.0)
        self._reader.join(2.0)
        self._conn.close()

    close = shutdown  # what leaving a ``with`` block calls

    # --- plumbing ---------------------------------------------------------------------------

    def _send(self, request: object) -> None:
        with self._send_lock:
            self._conn.send(request)

    def _deliver(self, event: Event) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event failed for %s", type(event).__name__)

    def _read_events(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # noqa: BLE001 - one undecodable event must not stop the reader
                log.warning("undecodable event from the model worker", exc_info=True)
                continue
            # The worker batches Token events into lists (fewer wake-ups); deliver one by one.
            for event in message if isinstance(message, list) else (message,):
                if isinstance(event, TERMINAL_EVENTS):
                    with self._lock:
                        self._pending.discard(event.request_id)
                elif isinstance(event, Log):
                    worker_log.log(event.level, "%s", event.line)
                self._deliver(event)
        self._finish()

    def _finish(self) -> None:
        # The pipe and the process sentinel close while the process is still exiting, before
        # it can be reaped: poll until the exit code is there (or give up after 5 s).
        deadline = time.monotonic() + 5.0
        while self._process.exitcode is None and time.monotonic() < deadline:
            self._process.join(0.05)
            time.sleep(0.005)
        code = self._process.exitcode
        with self._lock:
            self._closed = True
            open_ids = sorted(self._pending)
            self._pending.clear()
            intentional = self._shutting_down
        if intentional:
            for rid in open_ids:
                self._deliver(Failed(rid, ErrorCode.CANCELLED, "the model worker was shut down"))
            return
        sig = ""
        if code is not None and code < 0:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = str(-code)
        log.warning("model worker %s stopped unexpectedly (exit code %s)", self.pid, code)
        facts: dict[str, int | float | str] = {
            "exit_code": code if code is not None else "",
            "signal": sig,
        }
        for rid in open_ids or [0]:
            self._deliver(Failed(rid, ErrorCode.WORKER_CRASHED, "the model worker died", facts))


class SyncWorker(ClosesOnExit):
    """Blocking use of a ModelWorker: its events are queued and ``wait`` collects one request's
    events up to its terminal event (events of other requests are kept for their own wait)."""

    def __init__(self, *, name: str = "model-worker") -> None:
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._stash: defaultdict[int, list[Event]] = defaultdict(list)
        self.worker = ModelWorker(self._events.put, name=name)

    def wait(
        self,
        request_id: int,
        timeout: float | None = 120.0,
        on_event: Callable[[Event], None] | None = None,
    ) -> list[Event]:
        """Events of ``request_id`` in order, the terminal one last. A worker crash reported
        under id 0 ends every wait. Raises EngineTimeoutError after ``timeout`` seconds (None:
        no limit; the wait still ends if the worker dies)."""
        events: list[Event] = []
        backlog = self._stash.pop(request_id, [])
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if backlog:
                event = backlog.pop(0)
            else:
                # Short slices keep the wait responsive to Ctrl-C in the main thread.
                remaining = 0.25 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    raise EngineTimeoutError(f"request {request_id}: no answer in {timeout} s")
                try:
                    event = self._events.get(timeout=min(remaining, 0.25))
                except queue.Empty:
                    continue
            rid = getattr(event, "request_id", None)
            crashed = isinstance(event, Failed) and event.code == ErrorCode.WORKER_CRASHED
            if rid != request_id and not (crashed and rid == 0):
                if rid is not None:
                    self._stash[rid].append(event)
                continue
            events.append(event)
            if on_event is not None:
                on_event(event)
            if isinstance(event, TERMINAL_EVENTS):
                return events

    def result(self, request_id: int, timeout: float | None = 120.0) -> Any:
        """The terminal event of ``request_id``."""
        return self.wait(request_id, timeout)[-1]

    def shutdown(self, timeout: float = 5.0) -> None:
        self.worker.shutdown(timeout)

    close = shutdown  # what leaving a ``with`` block calls
