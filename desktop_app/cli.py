"""The ``quantdesk`` command: core jobs for scripting, tests and benchmarks; no arguments = GUI.

No Qt is imported unless the GUI is asked for. Errors print one line on stderr and exit 1
(bad input) — never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop_app import __version__
from desktop_app.cli_common import add_command, print_json
from desktop_app.cli_compare import add_compare_commands
from desktop_app.cli_convert import add_convert_command
from desktop_app.cli_engine import add_engine_commands
from desktop_app.cli_hub import add_hub_commands
from desktop_app.cli_library import add_library_commands
from desktop_app.cli_quantize import add_quantize_commands
from desktop_app.core.engine.huge_pages import prepare_environment
from desktop_app.core.errors import QuantDeskError
from desktop_app.formatting import describe_sliding_window, human_bytes, human_count
from desktop_app.messages import describe_error

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad command-line input that argparse could not catch."""


def cmd_hardware(args: argparse.Namespace) -> int:
    from desktop_app.core.hardware import read_machine_info
    from desktop_app.core.paths import AppPaths

    info = read_machine_info(AppPaths.default().models)
    if args.json:
        print_json(info.to_json())
        return 0
    print(f"CPU            {info.cpu_model}")
    print(f"Cores          {info.physical_cores} physical, {info.logical_cores} logical")
    print(f"CPU features   {' '.join(info.cpu_features) or 'unknown'} ({info.features_source})")
    print(
        f"RAM            {human_bytes(info.total_ram)} total, "
        f"{human_bytes(info.available_ram)} available"
    )
    print(
        f"Swap           {human_bytes(info.swap_total)} total, {human_bytes(info.swap_free)} free"
    )
    print(f"Disk           {human_bytes(info.disk_free)} free at {info.disk_path}")
    print(f"OS             {info.os_name}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from desktop_app.core.model_facts import read_model_facts

    facts = read_model_facts(args.file)
    if args.json:
        print_json(facts.to_json())
        return 0
    ft = facts.file_type
    guessed = " (inferred from tensors)" if facts.file_type_guessed else ""
    rows = [
        ("File", facts.path),
        ("Size", human_bytes(facts.file_size)),
        ("Name", facts.name or facts.basename or "-"),
        ("Architecture", facts.architecture),
        ("Parameters", human_count(facts.parameter_count)),
        ("Quantization", f"{facts.quant_label}{guessed}"),
        ("Bits/weight", f"{facts.bits_per_weight:.2f}"),
        ("Context", str(facts.context_length or "-")),
        ("Layers", str(facts.n_layer or "-")),
        ("Embedding", str(facts.n_embd or "-")),
        ("Heads (KV)", f"{facts.n_head or '-'} ({facts.n_head_kv or '-'})"),
        ("Key/value len", f"{facts.key_length or '-'}/{facts.value_length or '-'}"),
        ("Sliding window", describe_sliding_window(facts)),
        ("Vocabulary", str(facts.vocab_size or "-")),
        ("Chat template", "yes" if facts.has_chat_template else "no"),
    ]
    if facts.split_count > 1:
        rows.append(("Split", f"{facts.split_count} files"))
    for label, value in rows:
        print(f"{label:<15}{value}")
    if ft is not None:
        print(f"{'':<15}{ft.note}")
    print("Tensor types")
    for tname, st in facts.tensor_types.items():
        share = 100.0 * st.n_bytes / facts.weights_bytes if facts.weights_bytes else 0.0
        print(f"  {tname:<10}{st.count:>5} tensors {human_bytes(st.n_bytes):>10} {share:5.1f}%")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from desktop_app.core.fit import LoadPlan, estimate_fit, max_context
    from desktop_app.core.hardware import read_machine_info
    from desktop_app.core.model_facts import read_model_facts
    from desktop_app.core.paths import AppPaths

    if args.ctx < 1:
        raise UsageError("--ctx must be a positive number of tokens")
    facts = read_model_facts(args.file)
    machine = read_machine_info(AppPaths.default().models)
    plan = LoadPlan(n_ctx=args.ctx, kv_type=args.kv_type, flash_attn=not args.no_flash_attn)
    fit = estimate_fit(facts, plan, machine.available_ram, cpu_features=machine.cpu_features)
    largest = max_context(facts, plan, machine.available_ram, cpu_features=machine.cpu_features)
    if args.json:
        data = fit.to_json()
        data["max_context"] = largest
        data["file"] = facts.path
        print_json(data)
        return 0
    m = fit.memory
    print(f"{Path(facts.path).name}: {facts.quant_label}, context {m.n_ctx}, KV cache {m.kv_type}")
    for label, value in (
        ("Weights", m.weights),
        ("Repacked copy", m.repack),
        ("KV cache", m.kv_cache),
        ("Compute", m.compute),
        ("Runtime", m.overhead),
    ):
        print(f"  {label:<14}{human_bytes(value):>10}")
    print(f"  {'Total':<14}{human_bytes(m.total):>10}")
    print(f"Available RAM {human_bytes(fit.available)} (reserve {human_bytes(fit.reserve)})")
    verdict = {"fits": "fits", "tight": "tight", "does_not_fit": "does not fit"}[fit.verdict]
    print(f"Verdict: {verdict}; largest comfortable context: {largest or 'none'}")
    return 0


def cmd_make_model(args: argparse.Namespace) -> int:
    from desktop_app.core.quantize import quantize_gguf
    from desktop_app.core.synthetic_model import SHAPES, write_model

    if args.shape not in SHAPES:
        raise UsageError(f"--shape must be one of {', '.join(SHAPES)}")
    out = Path(args.output)
    base = write_model(out, args.shape, dtype=args.dtype, seed=args.seed)
    print(f"wrote {base} ({human_bytes(base.stat().st_size)})")
    for label in filter(None, (args.quant or "").split(",")):
        target = out.with_name(f"{out.stem}-{label.upper()}.gguf")
        quantize_gguf(base, target, label.strip())
        print(f"wrote {target} ({human_bytes(target.stat().st_size)})")
    return 0


def cmd_gui(_args: argparse.Namespace) -> int:
    from desktop_app.app import run_gui

    return run_gui()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantdesk",
        description="Run quantized GGUF models locally. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"QuantDesk {__version__}")
    parser.add_argument(
        "--selftest", action="store_true", help="check this installation works, then exit"
    )
    # Timing hook for benchmarks/bundle_start.py: open the app, report the first paint, quit.
    parser.add_argument("--quit-after-show", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_command(sub, "gui", cmd_gui, "open the app (the default)")

    p = add_command(sub, "hardware", cmd_hardware, "this machine's memory, cores and CPU features")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "inspect", cmd_inspect, "facts from a GGUF file's header")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "fit", cmd_fit, "memory estimate and fit verdict for this machine")
    p.add_argument("file")
    p.add_argument("--ctx", type=int, default=4096, help="context length in tokens")
    p.add_argument("--kv-type", choices=["f16", "q8_0", "q4_0"], default="f16")
    p.add_argument("--no-flash-attn", action="store_true", help="estimate without flash attention")
    p.add_argument("--json", action="store_true")

    add_library_commands(sub)
    add_engine_commands(sub)
    add_hub_commands(sub)
    add_quantize_commands(sub)
    add_compare_commands(sub)
    add_convert_command(sub)

    dev = sub.add_parser("dev", help="developer tools")
    dev_sub = dev.add_subparsers(dest="dev_command", metavar="TOOL", required=True)
    p = add_command(
        dev_sub, "make-model", cmd_make_model, "write a random-weight Llama GGUF for testing"
    )
    p.add_argument("output")
    p.add_argument("--shape", default="tiny", help="tiny, small or realistic (~0.5B)")
    p.add_argument("--dtype", choices=["F16", "F32"], default="F16")
    p.add_argument("--quant", default="", help="also quantize, e.g. Q8_0,Q4_K_M,Q2_K")
    p.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # No usage pings from huggingface_hub, ever: set before it is first imported.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # Model workers start with a huge-page tunable: make the variable exist while this process
    # has no other thread yet, so that starting a worker only replaces its value.
    prepare_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.selftest or args.quit_after_show:
        from desktop_app import selftest

        return selftest.run_selftest() if args.selftest else selftest.run_quit_after_show()
    if args.command is None:
        return cmd_gui(args)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"quantdesk: {exc}", file=sys.stderr)
        return 2
    except (QuantDeskError, OSError, MemoryError) as exc:
        print(f"quantdesk: {describe_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("quantdesk: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        log.debug("unexpected error", exc_info=True)
        print(f"quantdesk: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
