"""``quantdesk compare``: two to four bit widths of one model, measured against the first."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from desktop_app.cli_common import add_command, positive_int, print_json
from desktop_app.cli_engine import CommandFailed
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_engine_failure


def add_compare_commands(sub: Any) -> None:
    p = add_command(
        sub,
        "compare",
        cmd_compare,
        "compare bit widths of one model: KL divergence, top-1 agreement, perplexity, speed",
    )
    p.add_argument(
        "reference", help="the highest-precision file: the others are measured against it"
    )
    p.add_argument("variants", nargs="+", help="one to three more GGUF files of the same model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="generate a reply in each, score the reference's reply")
    src.add_argument("--text", type=Path, help="score a text file (perplexity and KLD)")
    p.add_argument("--system", default=None, help="system prompt (with --prompt)")
    p.add_argument("--ctx", type=positive_int, default=2048, help="context length (chunk size)")
    p.add_argument("--max-tokens", type=positive_int, default=256)
    p.add_argument("--chunks", type=positive_int, default=None, help="score at most N chunks")
    p.add_argument("--json", action="store_true", help="print the JSON report")
    p.add_argument("--html", type=Path, default=None, help="also write an HTML report here")
    p.add_argument("--no-cache", action="store_true", help="run again even if cached")


def _spec(args: argparse.Namespace) -> Any:
    import dataclasses

    from desktop_app.core.compare.results import COMPARE_SAMPLING, CompareSpec
    from desktop_app.core.engine.protocol import ChatMessage

    files = (args.reference, *args.variants)
    text = None
    messages = None
    if args.text is not None:
        try:
            text = args.text.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CommandFailed(
                f"cannot read the text: {exc.strerror}", path=str(args.text)
            ) from exc
        if not text.strip():
            raise CommandFailed("the text file is empty", path=str(args.text))
    else:
        if not args.prompt.strip():
            raise CommandFailed("the prompt is empty")
        msgs = [ChatMessage("user", args.prompt)]
        if args.system:
            msgs.insert(0, ChatMessage("system", args.system))
        messages = tuple(msgs)
    sampling = dataclasses.replace(COMPARE_SAMPLING, max_tokens=args.max_tokens)
    return CompareSpec(
        variants=tuple(str(f) for f in files),
        reference=0,
        messages=messages,
        text=text,
        sampling=sampling,
        n_ctx=args.ctx,
        max_chunks=args.chunks,
    )


def _progress(event: Any) -> None:
    from desktop_app.core.compare.results import PaneState, PaneStateChanged, PlanReady

    if isinstance(event, PlanReady):
        p = event.plan
        why = (
            "they all fit in memory at once"
            if p.mode.value == "parallel"
            else "they do not all fit in memory at once"
        )
        print(
            f"{p.mode.value} run ({why}: {human_bytes(p.combined_bytes)} together, "
            f"{human_bytes(p.available_bytes)} available)",
            file=sys.stderr,
        )
    elif (
        isinstance(event, PaneStateChanged)
        and event.state in (PaneState.LOADING, PaneState.GENERATING, PaneState.SCORING)
        and event.fraction in (None, 0.0)
    ):
        print(f"  [{event.index}] {event.state.value}", file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> int:
    from desktop_app.core.compare.plan import plan_run
    from desktop_app.core.compare.report import report_html, report_json
    from desktop_app.core.compare.runner import run_compare
    from desktop_app.core.paths import AppPaths

    spec = _spec(args)
    plan = plan_run(spec)
    cache = None if args.no_cache else AppPaths.default().cache / "compare"
    cancel = [False]
    try:
        result = run_compare(
            spec,
            plan=plan,
            on_event=_progress,
            cancelled=lambda: cancel[0],
            cache_dir=cache,
        )
    except KeyboardInterrupt:
        cancel[0] = True
        print("cancelled", file=sys.stderr)
        return 130
    ref = result.reference
    if ref.failed:
        raise CommandFailed(
            describe_engine_failure(ref.error_code, ref.error_detail, ref.error_facts).rstrip("."),
            path=ref.info.path,
        )
    if args.html is not None:
        try:
            args.html.write_text(report_html(result), encoding="utf-8")
        except OSError as exc:
            raise CommandFailed(
                f"cannot write the report: {exc.strerror}", path=str(args.html)
            ) from exc
    if args.json:
        print_json(report_json(result))
    else:
        _print_table(result)
    return 1 if any(v.failed for v in result.variants) else 0


def _pct(share: float | None) -> float:
    return float("nan") if share is None else 100.0 * share


def _print_table(result: Any) -> None:
    print(
        f"{'variant':<10} {'size':>10} {'bpw':>5} {'PPL':>10} {'KLD mean':>9} {'p99':>8} "
        f"{'top-1':>6} {'tok/s':>7}"
    )
    for v in result.variants:
        s = v.summary
        if v.failed:
            sentence = describe_engine_failure(v.error_code, v.error_detail, v.error_facts)
            print(f"{v.info.label:<10} {sentence}")
            continue
        tps = f"{v.stats.gen_tps:7.1f}" if v.stats else f"{'-':>7}"
        print(
            f"{v.info.label:<10} {human_bytes(v.info.size_bytes):>10} "
            f"{(v.info.bits_per_weight or 0):5.2f} "
            f"{(s.ppl if s else float('nan')):10.3f} "
            f"{(s.kld_mean if s and s.kld_mean is not None else float('nan')):9.5f} "
            f"{(s.kld_p99 if s and s.kld_p99 is not None else float('nan')):8.4f} "
            f"{_pct(s.top1_agreement if s else None):5.1f}% "
            f"{tps}"
        )
    if result.variants and result.variants[0].summary is not None:
        print(f"scored {result.variants[0].summary.n_tokens} tokens of the reference's text")
