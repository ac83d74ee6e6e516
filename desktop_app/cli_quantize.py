"""The ``quantdesk quantize`` and ``quantdesk ladder`` commands (registered in ``cli.py``).

Both run llama.cpp's quantizer in a worker process, exactly as the app does, with the same
checks first. Progress goes to stderr (one updating line on a terminal, a line per 10%
otherwise); stdout gets only the paths written, one per line, so output can be piped. Errors
are one line on stderr (exit 1); Ctrl-C cancels, deletes the partial file and exits 130.
Core modules are imported inside the commands to keep ``--help`` fast.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.cli_common import add_command, positive_int
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_error

if TYPE_CHECKING:
    from desktop_app.core.ladder import LadderTarget


class _Progress:
    """Throttled progress on stderr, safe to feed from the job's event thread."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._lock = threading.Lock()
        self._last_decile = -1
        self._dirty = False

    def show(self, text: str, fraction: float) -> None:
        with self._lock:
            if self._tty:
                sys.stderr.write(f"\r\x1b[K{text}")
                sys.stderr.flush()
                self._dirty = True
                return
            decile = int(fraction * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                print(text, file=sys.stderr, flush=True)

    def reset(self) -> None:
        with self._lock:
            self._last_decile = -1

    def end(self) -> None:
        """Clear an updating line, if one is showing."""
        with self._lock:
            if self._dirty:
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()
                self._dirty = False

    def line(self, text: str) -> None:
        """A permanent line (ends an updating one first)."""
        with self._lock:
            if self._dirty:
                sys.stderr.write("\r\x1b[K")
                self._dirty = False
            print(text, file=sys.stderr, flush=True)


def add_quantize_commands(sub: Any) -> None:
    p = add_command(
        sub, "quantize", cmd_quantize, "quantize a GGUF file to another type (e.g. F16 -> Q4_K_M)"
    )
    p.add_argument("input", nargs="?", help="the GGUF file to quantize")
    p.add_argument("--type", dest="label", help="target type, e.g. Q4_K_M (see --list-types)")
    p.add_argument("-o", "--output", help="output file (default: <name>-<TYPE>.gguf beside it)")
    p.add_argument(
        "--allow-requantize",
        action="store_true",
        help="allow an already quantized input (loses more quality than starting from F16)",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="default: all cores")
    p.add_argument("--imatrix", default=None, help="importance matrix (GGUF) for IQ types")
    p.add_argument("--list-types", action="store_true", help="list every type and exit")

    p = add_command(
        sub, "ladder", cmd_ladder, "make several quantized versions of one F16/F32 model"
    )
    p.add_argument("source", help="an F32/F16/BF16 GGUF file or a Hugging Face model folder")
    p.add_argument(
        "--types",
        default=None,
        help="comma-separated types (default: Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q3_K_M,Q2_K)",
    )
    p.add_argument("-o", "--output-dir", default=None, help="default: the source's folder")
    p.add_argument("--threads", type=positive_int, default=None, help="default: all cores")
    p.add_argument("--imatrix", default=None, help="importance matrix (GGUF) for IQ types")


def _usage(message: str) -> int:
    print(f"quantdesk: {message}", file=sys.stderr)
    return 2


def _fail(exc: BaseException, hint: str = "") -> int:
    print(f"quantdesk: {describe_error(exc)}{hint}", file=sys.stderr)
    return 1


def _eta(seconds: float) -> str:
    if seconds < 1.5:
        return "~1 s"
    return f"~{seconds:.0f} s" if seconds < 120 else f"~{seconds / 60:.0f} min"


def _list_types() -> int:
    from desktop_app.core.quantize_plan import supported_file_types

    print(f"{'type':<10}{'id':>4}  {'bits/w':>6}  notes")
    for row in supported_file_types():
        bpw = f"{row.file_type.bits_per_weight:.2f}" if row.file_type else "-"
        notes = []
        if row.needs_imatrix:
            notes.append("needs --imatrix")
        elif row.file_type is not None and row.file_type.imatrix_recommended:
            notes.append("imatrix recommended")
        if not row.writable:
            notes.append("cannot be made by quantizing")
        print(f"{row.label:<10}{row.ftype:>4}  {bpw:>6}  {', '.join(notes)}")
    return 0


def _run_until_done(wait: Callable[[float], bool], cancel: Callable[[], None]) -> None:
    """Wait in short slices so Ctrl-C is noticed; on Ctrl-C cancel, then re-raise."""
    try:
        while not wait(0.25):
            pass
    except KeyboardInterrupt:
        cancel()
        raise


def cmd_quantize(args: argparse.Namespace) -> int:
    from desktop_app.core.errors import QuantDeskError
    from desktop_app.core.quantize_errors import REQUANTIZE_WARNING, RequantizeRefusedError
    from desktop_app.core.quantize_job import QuantizeFinished, QuantizeJob, QuantizeProgress

    if args.list_types:
        return _list_types()
    if not args.input or not args.label:
        return _usage("quantize needs an input file and --type (or --list-types)")
    source = Path(args.input)
    output = Path(args.output) if args.output else None
    if output is None:
        from desktop_app.core.ladder import ladder_stem

        output = source.with_name(f"{ladder_stem(source)}-{args.label.upper()}.gguf")
    progress = _Progress()
    finished = threading.Event()

    def on_event(event: Any) -> None:
        if isinstance(event, QuantizeProgress):
            progress.show(
                f"  {event.fraction * 100:5.1f}%  tensor {event.done}/{event.total}"
                f"  {event.elapsed:.0f} s",
                event.fraction,
            )
        elif isinstance(event, QuantizeFinished):
            finished.set()

    job = QuantizeJob(
        source,
        output,
        args.label,
        threads=args.threads or 0,
        allow_requantize=args.allow_requantize,
        imatrix=args.imatrix,
        on_event=on_event,
    )
    try:
        plan = job.start()
    except RequantizeRefusedError as exc:
        return _fail(exc, "; add --allow-requantize to do it anyway")
    except QuantDeskError as exc:
        return _fail(exc)
    if REQUANTIZE_WARNING in plan.warnings:
        progress.line(
            f"warning: the input is already quantized ({plan.source_type}); quantizing it again "
            "loses more quality than quantizing the F16/F32 original"
        )
    progress.line(
        f"quantizing {plan.source.name} ({plan.source_type}) to {plan.file_type.label}: "
        f"about {human_bytes(plan.output_bytes)}, {_eta(plan.seconds)}"
    )
    _run_until_done(finished.wait, job.cancel)
    try:
        result = job.wait()
    except QuantDeskError as exc:
        progress.end()
        return _fail(exc)
    progress.line(
        f"wrote {result.destination} ({human_bytes(result.output_bytes)}, {result.seconds:.1f} s)"
    )
    if result.fallback_tensors:
        progress.line(
            f"note: {result.fallback_tensors} tensors have rows llama.cpp cannot store as "
            f"{plan.file_type.label}; they use a similar older type (run `quantdesk inspect`)"
        )
    print(result.destination)
    return 0


def _print_plan(targets: list[LadderTarget], progress: _Progress, from_folder: bool) -> None:
    total = sum(t.output_bytes for t in targets)
    seconds = sum(t.seconds for t in targets)
    first = "converting to F16 GGUF first; " if from_folder else ""
    progress.line(
        f"ladder of {len(targets)} types: {first}about {human_bytes(total)} in total, "
        f"~{seconds / 60:.1f} min"
    )
    for t in targets:
        progress.line(
            f"  {t.label:<8} {human_bytes(t.output_bytes):>10}  {_eta(t.seconds):>8}  "
            f"{t.destination}"
        )


def cmd_ladder(args: argparse.Namespace) -> int:
    from desktop_app.core.errors import QuantDeskError
    from desktop_app.core.ladder import (
        DEFAULT_LADDER,
        LadderFinished,
        LadderJob,
        LadderProgress,
        LadderStepFinished,
    )
    from desktop_app.core.quantize_launcher import QuantizeLauncher

    labels = (
        [x.strip() for x in args.types.split(",") if x.strip()] if args.types else DEFAULT_LADDER
    )
    if not labels:
        return _usage("--types needs at least one type")
    source = Path(args.source)
    output_dir = Path(args.output_dir) if args.output_dir else source.absolute().parent
    progress = _Progress()
    finished = threading.Event()

    def on_event(event: Any) -> None:
        if isinstance(event, LadderProgress):
            step = event.step_progress
            progress.show(
                f"  {event.fraction * 100:5.1f}%  {event.label} ({event.step + 1}/{event.steps})"
                f"  tensor {step.done}/{step.total}  {event.elapsed:.0f} s",
                event.fraction,
            )
        elif isinstance(event, LadderStepFinished):
            if event.result is not None:
                r = event.result
                progress.line(
                    f"wrote {r.destination} ({human_bytes(r.output_bytes)}, {r.seconds:.1f} s)"
                )
            elif event.error is not None:
                progress.line(f"{event.label} failed: {describe_error(event.error)}")
            else:
                progress.line(f"converted {source} to F16 GGUF")
        elif isinstance(event, LadderFinished):
            finished.set()

    # Each step's end starts the next step's worker, a little ahead of it.
    launcher = QuantizeLauncher()
    job = LadderJob(
        source,
        output_dir,
        labels,
        threads=args.threads or 0,
        imatrix=args.imatrix,
        on_event=on_event,
        launcher=launcher,
    )
    try:
        try:
            targets = job.start()
        except QuantDeskError as exc:
            return _fail(exc)
        _print_plan(targets, progress, job.from_folder)
        _run_until_done(finished.wait, job.cancel)
        result = job.wait()
    finally:
        launcher.close()
    progress.end()
    for output in result.outputs:
        print(output.destination)
    if result.failures:
        failed = ", ".join(label for label, _ in result.failures)
        progress.line(f"quantdesk: {len(result.failures)} of {len(targets)} failed ({failed})")
        return 1
    progress.line(f"done: {len(result.outputs)} files in {result.seconds:.0f} s")
    return 0
