"""One Convert-page job: several target types from one source, run one stage after another.

``ConvertBatch(spec)`` picks the engine for the source:

* a Hugging Face folder or an unquantized GGUF: a ``LadderJob`` (conversion to F16 first for a
  folder; outputs recorded as one family with provenance sidecars);
* an already quantized GGUF with ``allow_requantize``: one ``QuantizeJob`` per type (a ladder
  refuses quantized sources), each with its sidecar and the re-quantizing warning.

Stages are numbered as the rows a caller shows, in ``stage_labels`` order: for a folder stage 0
is the conversion, whose F16 output is kept when "F16" was asked for and temporary otherwise.
Events go to ``on_event`` on a background thread: ``StageProgress``, ``StageFinished`` per
stage that ran, then one ``BatchFinished``. ``cancel`` kills the running worker (its temp file
is deleted) and skips the rest; finished outputs are complete files and stay.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.errors import QuantDeskError
from desktop_app.core.gguf_file import read_gguf_header
from desktop_app.core.ladder import (
    LadderEvent,
    LadderFinished,
    LadderJob,
    LadderProgress,
    LadderStepFinished,
    ladder_stem,
)
from desktop_app.core.quantize_errors import NotEnoughDiskError, QuantizeCancelledError
from desktop_app.core.quantize_job import QuantizeJob, QuantizeProgress, QuantizeResult
from desktop_app.core.quantize_launcher import QuantizeLauncher
from desktop_app.core.quantize_plan import check_target, plan_quantize, quantized_source_type


@dataclass(frozen=True)
class BatchSpec:
    source: Path
    output_dir: Path
    labels: tuple[str, ...]
    imatrix: Path | None = None
    allow_requantize: bool = False
    threads: int = 0


def stage_labels(labels: Sequence[str], from_folder: bool) -> tuple[str, ...]:
    """The order stages run in: repeats dropped; for a folder the F16 conversion comes first."""
    unique = list(dict.fromkeys(labels))
    if from_folder:
        return ("F16", *(x for x in unique if x != "F16"))
    return tuple(unique)


@dataclass(frozen=True)
class StagePlan:
    label: str
    destination: Path | None  # None: the temporary F16 made from a folder and removed after
    output_bytes: int | None  # estimated (None: not estimated)
    seconds: float | None  # estimated


@dataclass(frozen=True)
class StageProgress:
    stage: int
    fraction: float  # of this stage, 0..1
    done: int  # tensors finished
    total: int
    tensor: str  # the tensor being written
    elapsed: float  # seconds since this stage started


@dataclass(frozen=True)
class StageFinished:
    stage: int
    output: Path | None  # the file made (None for a temporary conversion and for failures)
    error: QuantDeskError | None
    output_bytes: int = 0
    warnings: tuple[str, ...] = ()
    fallback_tensors: int = 0


@dataclass(frozen=True)
class BatchFinished:
    outputs: tuple[Path, ...]
    failures: tuple[tuple[str, QuantDeskError], ...]
    cancelled: bool
    seconds: float


BatchEvent = StageProgress | StageFinished | BatchFinished


class ConvertBatch:
    """``prepare`` checks everything (typed errors), ``start`` runs on its own thread."""

    def __init__(
        self,
        spec: BatchSpec,
        on_event: Callable[[BatchEvent], None] | None = None,
        launcher: QuantizeLauncher | None = None,
    ):
        self.spec = spec
        self._launcher = launcher
        self.from_folder = spec.source.is_dir()
        self.labels = stage_labels(spec.labels, self.from_folder)
        self._on_event = on_event
        self._ladder: LadderJob | None = None
        self._plans: list[StagePlan] | None = None
        self._lock = threading.Lock()
        self._cancelled = False
        self._current: QuantizeJob | None = None
        self._started = False
        self._finished = threading.Event()
        self._result: BatchFinished | None = None

    # --- planning -----------------------------------------------------------------------------

    def prepare(self) -> list[StagePlan]:
        if self._plans is None:
            requantize = False
            if not self.from_folder and self.spec.allow_requantize:
                requantize = quantized_source_type(read_gguf_header(self.spec.source)) is not None
            self._plans = self._plan_requantize() if requantize else self._plan_ladder()
        return self._plans

    def _plan_ladder(self) -> list[StagePlan]:
        keep_f16 = "F16" in self.spec.labels
        labels = self.labels if keep_f16 or not self.from_folder else self.labels[1:]
        self._ladder = LadderJob(
            self.spec.source, self.spec.output_dir, labels, threads=self.spec.threads,
            imatrix=self.spec.imatrix, on_event=self._on_ladder_event, launcher=self._launcher,
        )  # fmt: skip
        targets = {t.label: t for t in self._ladder.prepare()}
        plans = []
        for label in self.labels:
            t = targets.get(label)
            if t is None:  # the temporary F16 of a folder
                plans.append(StagePlan(label, None, None, None))
            else:
                plans.append(StagePlan(label, t.destination, t.output_bytes, t.seconds))
        return plans

    def _plan_requantize(self) -> list[StagePlan]:
        from desktop_app.core import hardware

        source = self.spec.source
        header = read_gguf_header(source)
        stem = ladder_stem(source)
        plans, needed = [], 0
        for label in self.labels:
            canonical = check_target(label, self.spec.imatrix).label
            plan = plan_quantize(
                source, self.spec.output_dir / f"{stem}-{canonical}.gguf", canonical,
                threads=self.spec.threads, allow_requantize=True, imatrix=self.spec.imatrix,
                header=header,
            )  # fmt: skip
            needed += plan.disk_needed
            plans.append(StagePlan(canonical, plan.destination, plan.output_bytes, plan.seconds))
        free, _total = hardware.disk_space(self.spec.output_dir)
        if free < needed:
            raise NotEnoughDiskError(needed, free, path=self.spec.output_dir)
        return plans

    # --- control ------------------------------------------------------------------------------

    def start(self) -> list[StagePlan]:
        plans = self.prepare()
        with self._lock:
            if self._started:
                raise RuntimeError("a ConvertBatch can be started once")
            self._started = True
        if self._ladder is not None:
            self._ladder.start()  # runs on the ladder's own thread
        else:
            threading.Thread(
                target=self._run_requantize, args=(plans,), name="convert-batch", daemon=True
            ).start()
        return plans

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            current = self._current
        if self._ladder is not None:
            self._ladder.cancel()
        elif current is not None:
            current.cancel()

    def wait(self, timeout: float | None = None) -> BatchFinished | None:
        """The outcome once the batch ended, None if ``timeout`` passed first."""
        if not self._started:
            raise RuntimeError("the batch was not started")
        if not self._finished.wait(timeout):
            return None
        return self._result

    # --- runners (background thread) ----------------------------------------------------------

    def _emit(self, event: BatchEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _finish(self, result: BatchFinished) -> None:
        self._result = result
        self._finished.set()
        self._emit(result)

    def _on_ladder_event(self, event: LadderEvent) -> None:
        # The ladder numbers stages exactly like stage_labels: a folder's conversion is 0.
        if isinstance(event, LadderProgress):
            self._emit(_progress(event.step, event.step_progress))
        elif isinstance(event, LadderStepFinished):
            output: Path | None = None
            plan = self._plans[event.step] if self._plans else None
            if event.result is not None:
                self._emit(_finished(event.step, event.result))
                return
            if event.error is None and plan is not None:
                output = plan.destination  # the conversion: kept F16 or temporary (None)
            size = output.stat().st_size if output is not None and output.exists() else 0
            self._emit(StageFinished(event.step, output, event.error, size))
        elif isinstance(event, LadderFinished):
            r = event.result
            outputs = [o.destination for o in r.outputs]
            if r.converted is not None:
                outputs.insert(0, r.converted)
            self._finish(BatchFinished(tuple(outputs), r.failures, r.cancelled, r.seconds))

    def _run_requantize(self, plans: list[StagePlan]) -> None:
        started = time.monotonic()
        outputs: list[Path] = []
        failures: list[tuple[str, QuantDeskError]] = []
        batch_id = uuid.uuid4().hex
        labels = [p.label for p in plans]
        for stage, plan in enumerate(plans):
            assert plan.destination is not None
            job = QuantizeJob(
                self.spec.source, plan.destination, plan.label, self.spec.threads,
                allow_requantize=True, imatrix=self.spec.imatrix,
                on_event=functools.partial(self._on_quantize_event, stage),
                provenance={"batch": {"id": batch_id, "labels": labels, "index": stage}},
                launcher=self._launcher,
            )  # fmt: skip
            with self._lock:
                if self._cancelled:
                    break
                self._current = job
            try:
                result = job.run()
            except QuantizeCancelledError:
                break
            except QuantDeskError as exc:
                failures.append((plan.label, exc))
                self._emit(StageFinished(stage, None, exc))
                continue
            outputs.append(result.destination)
            self._emit(_finished(stage, result))
        with self._lock:
            self._current = None
            cancelled = self._cancelled
        self._finish(BatchFinished(tuple(outputs), tuple(failures), cancelled,
                                   time.monotonic() - started))  # fmt: skip

    def _on_quantize_event(self, stage: int, event: Any) -> None:
        if isinstance(event, QuantizeProgress):
            self._emit(_progress(stage, event))


def _progress(stage: int, p: QuantizeProgress) -> StageProgress:
    return StageProgress(stage, p.fraction, max(0, p.done), p.total, p.tensor, p.elapsed)


def _finished(stage: int, r: QuantizeResult) -> StageFinished:
    return StageFinished(stage, r.destination, None, r.output_bytes, r.warnings, r.fallback_tensors)


__all__ = [
    "BatchEvent",
    "BatchFinished",
    "BatchSpec",
    "ConvertBatch",
    "StageFinished",
    "StagePlan",
    "StageProgress",
    "stage_labels",
]
