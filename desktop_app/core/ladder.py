"""A quant ladder: several bit widths from one unquantized source, one after another, one job.

``LadderJob(source, output_dir, labels)`` checks the whole ladder before anything runs
(``prepare``), then runs one ``QuantizeJob`` per type, each in its own worker process. Outputs
are named ``<stem>-<LABEL>.gguf`` in ``output_dir`` and each gets a provenance sidecar that also
records the ladder (id, types, position), so the library can show them as one family and say
how each was made.

Sources:

* an F32/F16/BF16 GGUF file (``stem``: its name without its own type label). Checked: valid
  GGUF, unquantized, every type known and not missing an importance matrix, no output exists,
  the disk holds all outputs together.
* a Hugging Face folder (``stem``: the folder name). It is first converted to F16 GGUF by
  ``desktop_app.core.convert`` in a worker process (``ladder_convert.ConvertStep``); ``prepare``
  runs the converter's own header-only checks. The F16 file is an output if "F16" is among the
  types, otherwise a temporary in a hidden work folder that is removed at the end. Sizes are
  then estimated from the parameter count alone, and there is no fit estimate until the GGUF
  exists.

Events go to ``on_event`` **on a background thread**: ``LadderProgress`` (overall fraction,
weighted by each stage's estimated time), ``LadderStepFinished`` per stage, then one
``LadderFinished``. A failed type does not stop the others (a failed conversion does);
``cancel`` stops the running stage (its worker killed, its temp file deleted) and skips the
rest; outputs already finished are kept (they are complete files) and listed in the result.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import hardware
from desktop_app.core.errors import QuantDeskError
from desktop_app.core.fit import FitEstimate, LoadPlan, estimate_as_quant
from desktop_app.core.gguf_file import read_gguf_header
from desktop_app.core.model_facts import facts_from_header
from desktop_app.core.quant_types import parse_quant_label
from desktop_app.core.quantize_errors import (
    NotEnoughDiskError,
    QuantizeCancelledError,
    RequantizeRefusedError,
)
from desktop_app.core.quantize_job import (
    QuantizeEvent,
    QuantizeJob,
    QuantizeProgress,
    QuantizeResult,
)
from desktop_app.core.quantize_launcher import QuantizeLauncher
from desktop_app.core.quantize_plan import (
    QuantizePlan,
    check_destination,
    check_target,
    disk_needed,
    estimate_seconds,
    plan_quantize,
    quantized_source_type,
)

log = logging.getLogger(__name__)

DEFAULT_LADDER: tuple[str, ...] = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
CONVERT_LABEL = "convert"
# Conversion time for the progress weighting only (safetensors -> F16 GGUF, seconds per billion
# parameters): a rough figure; the converter's own benchmark measures it properly.
CONVERT_SECONDS_PER_GPARAM = 10.0


@dataclass(frozen=True)
class LadderTarget:
    """One planned output: where it goes, its estimated size and time, and whether it would fit
    this machine's memory (``fit``: None without a memory figure or before a GGUF exists)."""

    label: str
    destination: Path
    output_bytes: int
    seconds: float
    disk_needed: int
    fit: FitEstimate | None
    plan: QuantizePlan | None  # None for a Hugging Face source (its GGUF does not exist yet)


@dataclass(frozen=True)
class LadderProgress:
    step: int  # 0-based index of the running stage (the conversion is stage 0 when there is one)
    steps: int
    label: str  # the type being made, or "convert"
    step_progress: QuantizeProgress
    fraction: float  # of the whole ladder, 0..1
    elapsed: float


@dataclass(frozen=True)
class LadderStepFinished:
    step: int
    label: str
    result: QuantizeResult | None  # None for the conversion stage and for failures
    error: QuantDeskError | None


@dataclass(frozen=True)
class LadderResult:
    ladder_id: str
    outputs: tuple[QuantizeResult, ...]
    failures: tuple[tuple[str, QuantDeskError], ...]  # (label or "convert", error)
    seconds: float
    cancelled: bool  # stopped by cancel(): finished outputs are kept, later types skipped
    converted: Path | None = None  # the F16 GGUF made from a Hugging Face folder, if kept


@dataclass(frozen=True)
class LadderFinished:
    result: LadderResult


LadderEvent = LadderProgress | LadderStepFinished | LadderFinished


def ladder_stem(source: Path) -> str:
    """``model-F16.gguf`` -> ``model``; a folder -> its name: what the outputs share."""
    if source.is_dir():
        return source.name
    match = parse_quant_label(source.name)
    if match is not None and match.stem:
        return match.stem
    return source.stem


def _folder_fingerprint(folder: Path) -> dict[str, Any]:
    """Provenance of a Hugging Face folder: its files' names, sizes and mtimes."""
    files = []
    for p in sorted(folder.iterdir()):
        if p.is_file():
            st = p.stat()
            files.append({"name": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {"path": str(folder.resolve()), "kind": "hf_folder", "files": files}


class LadderJob:
    """Sequential quantizations of one source. Methods may be called from any thread."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        output_dir: str | os.PathLike[str],
        labels: Sequence[str] = DEFAULT_LADDER,
        *,
        threads: int = 0,
        imatrix: str | os.PathLike[str] | None = None,
        stem: str | None = None,
        on_event: Callable[[LadderEvent], None] | None = None,
        launcher: QuantizeLauncher | None = None,
    ) -> None:
        self.source = Path(source).absolute()
        self.output_dir = Path(output_dir).absolute()
        self.labels = tuple(labels)
        if not self.labels:
            raise ValueError("a ladder needs at least one type")
        self.threads = threads
        self.imatrix = Path(imatrix) if imatrix is not None else None
        self.stem = stem or ladder_stem(self.source)
        self.ladder_id = uuid.uuid4().hex
        self._on_event = on_event
        self._launcher = launcher
        self._targets: list[LadderTarget] | None = None
        self._convert_params = 0
        self._intermediate_disk = 0
        self._lock = threading.Lock()
        self._cancelled = False
        self._current: Any = None  # the running QuantizeJob or ConvertStep
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._result: LadderResult | None = None

    @property
    def from_folder(self) -> bool:
        return self.source.is_dir()

    # --- planning -----------------------------------------------------------------------------

    def prepare(self, available_ram: int | None = None) -> list[LadderTarget]:
        """Check the whole ladder and estimate each output; raises the typed errors
        (``ConvertError`` for a Hugging Face folder the converter refuses)."""
        if self._targets is None:
            targets = self._plan_folder() if self.from_folder else self._plan_gguf(available_ram)
            needed = sum(t.disk_needed for t in targets)
            if self.from_folder and "F16" not in (t.label for t in targets):
                needed += self._intermediate_disk
            free, _total = hardware.disk_space(self.output_dir)
            if free < needed:
                raise NotEnoughDiskError(needed, free, path=self.output_dir)
            self._targets = targets
        return self._targets

    def _labels(self) -> list[str]:
        """Canonical labels (``q4_k_m`` -> ``Q4_K_M``), repeats dropped, checked up front."""
        return list(dict.fromkeys(check_target(x, self.imatrix).label for x in self.labels))

    def _plan_gguf(self, available_ram: int | None) -> list[LadderTarget]:
        header = read_gguf_header(self.source)
        quantized = quantized_source_type(header)
        if quantized is not None:
            # A ladder is made from the unquantized weights; stacking rounding errors is not.
            raise RequantizeRefusedError(quantized, path=self.source)
        facts = facts_from_header(header, str(self.source))
        targets = []
        for label in self._labels():
            destination = self.output_dir / f"{self.stem}-{label}.gguf"
            plan = plan_quantize(
                self.source, destination, label, threads=self.threads, imatrix=self.imatrix,
                header=header,
            )  # fmt: skip
            fit = None
            if available_ram is not None:
                bpw = plan.file_type.bits_per_weight
                fit = estimate_as_quant(facts, bpw, LoadPlan(), available_ram)
            targets.append(
                LadderTarget(
                    label, destination, plan.output_bytes, plan.seconds, plan.disk_needed, fit, plan
                )  # fmt: skip
            )
        return targets

    def _plan_folder(self) -> list[LadderTarget]:
        from desktop_app.core.convert import plan_conversion
        from desktop_app.core.imatrix import check_imatrix
        from desktop_app.core.quant_types import file_type_by_label

        conversion = plan_conversion(self.source, "f16")
        params = conversion.parameter_count
        self._convert_params = params
        metadata = max(0, conversion.estimated_size - conversion.tensor_bytes)
        self._intermediate_disk = disk_needed(conversion.estimated_size)
        if self.imatrix is not None:
            check_imatrix(self.imatrix)
        targets = []
        for label in self._labels():
            ft = file_type_by_label(label)
            assert ft is not None
            destination = self.output_dir / f"{self.stem}-{label}.gguf"
            check_destination(self.source, destination)
            size = conversion.estimated_size if label == "F16" else (
                metadata + int(params * ft.bits_per_weight / 8)
            )  # fmt: skip
            seconds = estimate_seconds(params, ft, self.threads)
            targets.append(
                LadderTarget(label, destination, size, seconds, disk_needed(size), None, None)
            )
        return targets

    # --- control ------------------------------------------------------------------------------

    def start(self) -> list[LadderTarget]:
        targets = self.prepare()
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a LadderJob can be started once")
            self._thread = threading.Thread(
                target=self._run, args=(targets,), name="quantize-ladder", daemon=True
            )
        self._thread.start()
        return targets

    def cancel(self) -> None:
        """Stop the running stage and skip the rest; returns once its worker is gone."""
        with self._lock:
            self._cancelled = True
            current = self._current
        if current is not None:
            current.cancel()

    def wait(self, timeout: float | None = None) -> LadderResult:
        """The ladder's result once it ends (also after cancel: see ``LadderResult.cancelled``)."""
        if self._thread is None:
            raise RuntimeError("the ladder was not started")
        if not self._finished.wait(timeout):
            raise TimeoutError(f"ladder still running after {timeout} s")
        assert self._result is not None
        return self._result

    def run(self, timeout: float | None = None) -> LadderResult:
        self.start()
        return self.wait(timeout)

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    # --- runner thread ------------------------------------------------------------------------

    def _emit(self, event: LadderEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # noqa: BLE001 - a broken listener must not break the ladder
                log.exception("ladder on_event failed")

    def _claim(self, job: Any) -> bool:
        """Make ``job`` the one cancel() stops; False if the ladder is already cancelled."""
        with self._lock:
            if self._cancelled:
                return False
            self._current = job
            return True

    def _run(self, targets: list[LadderTarget]) -> None:
        started = time.monotonic()
        outputs: list[QuantizeResult] = []
        failures: list[tuple[str, QuantDeskError]] = []
        converted: Path | None = None
        work: Path | None = None
        labels = [t.label for t in targets]  # every output, for the provenance records
        keep_f16 = "F16" in labels
        if self.from_folder:
            targets = [t for t in targets if t.label != "F16"]  # the conversion makes it
        stages: list[tuple[str, float]] = [(t.label, max(t.seconds, 0.01)) for t in targets]
        if self.from_folder:
            convert_weight = self._convert_params / 1e9 * CONVERT_SECONDS_PER_GPARAM
            stages.insert(0, (CONVERT_LABEL, max(convert_weight, 0.01)))
        offset = len(stages) - len(targets)
        source = self.source
        provenance: dict[str, Any] = {}
        total = sum(w for _, w in stages) or 1.0

        def progress(step: int, p: QuantizeProgress) -> None:
            done = sum(w for _, w in stages[:step]) + stages[step][1] * p.fraction
            label = stages[step][0]
            self._emit(LadderProgress(step, len(stages), label, p, min(1.0, done / total),
                                      time.monotonic() - started))  # fmt: skip

        try:
            if self.from_folder:
                folder = self.output_dir
                if not keep_f16:
                    work = self.output_dir / f".quantdesk-ladder-{self.ladder_id[:8]}"
                    work.mkdir()
                    folder = work
                try:
                    source = self._convert(folder / f"{self.stem}-F16.gguf", progress)
                except QuantizeCancelledError:
                    raise
                except QuantDeskError as exc:
                    failures.append((CONVERT_LABEL, exc))
                    self._emit(LadderStepFinished(0, CONVERT_LABEL, None, exc))
                    raise _Stop from exc
                provenance["source"] = _folder_fingerprint(self.source)
                provenance["converted"] = {"from": "hf_folder", "outtype": "F16"}
                if keep_f16:
                    converted = source
                    self._record_conversion(source, provenance, labels, started)
                self._emit(LadderStepFinished(0, CONVERT_LABEL, None, None))
            for index, target in enumerate(targets):
                step = index + offset
                ladder = {
                    "id": self.ladder_id,
                    "labels": labels,
                    "index": labels.index(target.label),
                }
                job = QuantizeJob(
                    source,
                    target.destination,
                    target.label,
                    self.threads,
                    imatrix=self.imatrix,
                    on_event=functools.partial(_forward, step=step, progress=progress),
                    provenance={**provenance, "ladder": ladder},
                    launcher=self._launcher,
                )
                if not self._claim(job):
                    break
                try:
                    outputs.append(job.run())
                except QuantizeCancelledError:
                    break
                except QuantDeskError as exc:
                    failures.append((target.label, exc))
                    self._emit(LadderStepFinished(step, target.label, None, exc))
                    continue
                self._emit(LadderStepFinished(step, target.label, outputs[-1], None))
        except (_Stop, QuantizeCancelledError):
            pass
        finally:
            with self._lock:
                self._current = None
                cancelled = self._cancelled
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
        result = LadderResult(self.ladder_id, tuple(outputs), tuple(failures),
                              time.monotonic() - started, cancelled, converted)  # fmt: skip
        self._result = result
        self._finished.set()  # before the event, so a listener may call wait()
        self._emit(LadderFinished(result))

    def _record_conversion(
        self, output: Path, provenance: dict[str, Any], labels: list[str], started: float
    ) -> None:
        """The sidecar of the F16 file converted from a Hugging Face folder."""
        from desktop_app.core.provenance import backend_versions, write_sidecar

        record = {
            **provenance,
            "output": {"file": output.name, "file_type": "F16", "size": output.stat().st_size},
            "llama_cpp": backend_versions(),
            "options": {"threads": self.threads, "allow_requantize": False, "imatrix": None},
            "seconds": round(time.monotonic() - started, 3),
            "warnings": [],
            "ladder": {"id": self.ladder_id, "labels": labels, "index": labels.index("F16")},
        }
        try:
            write_sidecar(output, record)
        except OSError:
            log.warning("could not write the provenance record for %s", output)

    def _convert(self, output: Path, progress: Callable[[int, QuantizeProgress], None]) -> Path:
        from desktop_app.core.ladder_convert import ConvertStep, ConvertStepProgress

        def relay(p: ConvertStepProgress) -> None:
            progress(0, QuantizeProgress(p.tensor_index - 1, p.tensor_count, p.fraction,
                                         p.tensor_name, p.elapsed))  # fmt: skip

        step = ConvertStep(self.source, output, "f16", relay)
        if not self._claim(step):
            raise QuantizeCancelledError("cancelled", path=self.source)
        return step.run()


class _Stop(Exception):
    """The ladder cannot go on (its conversion failed); already recorded."""


def _forward(
    event: QuantizeEvent, step: int, progress: Callable[[int, QuantizeProgress], None]
) -> None:
    if isinstance(event, QuantizeProgress):
        progress(step, event)


__all__ = [
    "CONVERT_LABEL",
    "DEFAULT_LADDER",
    "LadderEvent",
    "LadderFinished",
    "LadderJob",
    "LadderProgress",
    "LadderResult",
    "LadderStepFinished",
    "LadderTarget",
    "ladder_stem",
]
