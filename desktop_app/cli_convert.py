"""The ``quantdesk convert`` command (registered in ``cli.py``): HF folder -> GGUF.

Runs the converter in this process. Progress and the plan summary go to stderr (an updating
line on a terminal, a line per 10% otherwise); stdout gets only the path written. Errors are
one line on stderr (exit 1); Ctrl-C removes the partial file and exits 130 (``cli.main``).
Core modules are imported inside the command to keep ``--help`` fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.cli_common import add_command
from desktop_app.formatting import human_bytes, human_count

if TYPE_CHECKING:
    from desktop_app.core.convert import ConversionPlan, ConvertProgress

OUTTYPES = ("f32", "f16", "bf16", "q8_0")


def add_convert_command(sub: Any) -> None:
    p = add_command(
        sub, "convert", cmd_convert, "convert a Hugging Face model folder (safetensors) to GGUF"
    )
    p.add_argument("source", metavar="HF_DIR", help="folder with config.json and *.safetensors")
    p.add_argument("-o", "--output", help="GGUF file to write (default: <folder>-<TYPE>.gguf)")
    p.add_argument("--outtype", choices=OUTTYPES, default="f16", help="default: f16")
    p.add_argument("--force", action="store_true", help="replace an existing output file")


class _Progress:
    """Progress on stderr: one updating line on a terminal, else a line per 10%."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_decile = -1
        self.last_draw = 0.0
        self.dirty = False

    def show(self, p: ConvertProgress) -> None:
        fraction = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
        text = (
            f"{fraction:6.1%}  tensor {p.tensor_index}/{p.tensor_count}  {p.tensor_name}"
            f"  {human_bytes(p.bytes_done)}/{human_bytes(p.bytes_total)}"
        )
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.1 or p.bytes_done == p.bytes_total:
                self.last_draw = now
                sys.stderr.write(f"\r\x1b[K{text}")
                sys.stderr.flush()
                self.dirty = True
            return
        decile = int(fraction * 10)
        if decile != self.last_decile:
            self.last_decile = decile
            print(text, file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.dirty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.dirty = False


def _describe_plan(plan: ConversionPlan) -> None:
    from desktop_app.messages_convert import describe_convert_warning

    cfg = plan.model.config
    tokenizer = plan.vocab.model + (f" / {plan.vocab.pre}" if plan.vocab.model == "gpt2" else "")
    print(
        f"converting {plan.model.path} ({cfg.architecture}, "
        f"{human_count(plan.parameter_count)} parameters, {cfg.n_layer} layers, "
        f"{tokenizer} tokenizer) to {plan.outtype.upper()}, "
        f"about {human_bytes(plan.estimated_size)}",
        file=sys.stderr,
        flush=True,
    )
    for code in plan.warnings:
        print(f"warning: {describe_convert_warning(code)}", file=sys.stderr, flush=True)


def cmd_convert(args: argparse.Namespace) -> int:
    from desktop_app.core.convert import convert_hf_to_gguf

    if not getattr(args, "verbose", False):
        # The plan's warnings are printed once, phrased; the libraries' own log stays quiet.
        for name in ("gguf", "desktop_app.core.convert"):
            logging.getLogger(name).setLevel(logging.ERROR)
    source = Path(args.source)
    output = Path(args.output) if args.output else _default_output(source, args.outtype)
    progress = _Progress()
    started = time.monotonic()
    try:
        out = convert_hf_to_gguf(
            source,
            output,
            args.outtype,
            on_progress=progress.show,
            overwrite=args.force,
            on_plan=_describe_plan,
        )
    finally:
        progress.end()
    seconds = time.monotonic() - started
    size = out.stat().st_size
    print(f"wrote {human_bytes(size)} in {seconds:.1f} s", file=sys.stderr)
    print(out)
    return 0


def _default_output(source: Path, outtype: str) -> Path:
    from desktop_app.core.convert.hf_model import model_display_name

    return Path.cwd() / f"{model_display_name(source)}-{outtype.upper()}.gguf"
