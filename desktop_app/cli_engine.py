"""The ``quantdesk generate``, ``chat`` and ``bench`` commands (registered in ``cli.py``).

All three run the model in a worker process, exactly as the app does. Replies stream to stdout
and nothing else goes there (llama.cpp's log stays in the worker's logging), so output can be
piped; errors are one line on stderr. Core modules are imported inside the commands to keep
``--help`` fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from desktop_app.cli_common import add_command, positive_int
from desktop_app.core.errors import QuantDeskError
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_broken_reason, describe_engine_failure

if TYPE_CHECKING:
    from desktop_app.core.engine.client import SyncWorker
    from desktop_app.core.engine.protocol import Done, Event, ModelInfo

log = logging.getLogger(__name__)

PRESETS = ("Precise", "Balanced", "Creative")
_BENCH_TEXT = (
    "The quick brown fox jumps over the lazy dog while the model counts tokens and measures "
    "how fast a small laptop can read a long prompt and write an answer one word at a time. "
)


class CommandFailed(QuantDeskError):
    """A worker request failed; ``detail`` is already a sentence for the terminal."""

    code = "command_failed"


MMAP_HELP = "map the model file instead of reading it into memory (faster load, slower tokens)"


def add_engine_commands(sub: Any) -> None:
    p = add_command(
        sub, "generate", cmd_generate, "generate a reply to one prompt (streams to stdout)"
    )
    p.add_argument("file")
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-tokens", type=positive_int, default=256)
    p.add_argument("--preset", choices=PRESETS, default="Balanced")
    p.add_argument("--ctx", type=positive_int, default=4096, help="context length in tokens")
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--raw", action="store_true", help="send the prompt as is, no chat template")
    p.add_argument("--mmap", action="store_true", help=MMAP_HELP)

    p = add_command(
        sub, "chat", cmd_chat, "chat in the terminal (Ctrl-C stops a reply, /exit quits)"
    )
    p.add_argument("file")
    p.add_argument("--ctx", type=positive_int, default=4096)
    p.add_argument("--system", default=None, help="a system message")
    p.add_argument("--preset", choices=PRESETS, default="Balanced")
    p.add_argument("--max-tokens", type=positive_int, default=1024)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--mmap", action="store_true", help=MMAP_HELP)

    p = add_command(sub, "bench", cmd_bench, "prompt and generation speed through the engine")
    p.add_argument("file")
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--ctx", type=positive_int, default=2048)
    p.add_argument("--prompt-tokens", type=positive_int, default=128)
    p.add_argument("--gen-tokens", type=positive_int, default=64)
    p.add_argument("--json", action="store_true")
    p.add_argument("--mmap", action="store_true", help=MMAP_HELP)


# --- shared -------------------------------------------------------------------------------------


def _failed(event: Event, path: str | None = None) -> None:
    from desktop_app.core.engine.protocol import Failed

    if isinstance(event, Failed):
        problem = event.facts.get("problem")
        if event.code == "file_invalid" and isinstance(problem, str):
            sentence = describe_broken_reason(problem)  # the same words as `inspect`
        else:
            sentence = describe_engine_failure(event.code, event.detail, event.facts)
        raise CommandFailed(sentence.rstrip("."), path=path)


def _start(args: argparse.Namespace) -> tuple[SyncWorker, ModelInfo]:
    """A worker with the model loaded (shut down again if loading fails)."""
    from desktop_app.core.engine.client import SyncWorker
    from desktop_app.core.engine.errors import DoesNotFitError
    from desktop_app.core.engine.protocol import LoadSettings

    settings = LoadSettings(
        path=args.file, n_ctx=args.ctx, n_threads=args.threads, use_mmap=args.mmap
    )
    sw = SyncWorker(name="quantdesk-cli")
    try:
        try:
            rid = sw.worker.load(settings)
        except DoesNotFitError as exc:
            raise CommandFailed(
                f"does not fit in memory: needs about {human_bytes(exc.fit.total)}, "
                f"{human_bytes(exc.fit.available)} available",
                path=args.file,
            ) from exc
        end = sw.wait(rid, timeout=None)[-1]
        _failed(end, args.file)
        return sw, end.info  # type: ignore[union-attr]
    except BaseException:
        sw.shutdown()
        raise


def _sampling(preset: str, max_tokens: int) -> Any:
    import dataclasses

    from desktop_app.core.engine.protocol import SAMPLING_PRESETS

    return dataclasses.replace(SAMPLING_PRESETS[preset], max_tokens=max_tokens)


def _stream(sw: SyncWorker, rid: int, *, notices_to_stderr: bool) -> Done:
    """Print a reply as it arrives; Ctrl-C cancels it (the partial reply is kept)."""
    from desktop_app.core.engine.protocol import Notice, Token

    def show(event: Event) -> None:
        if isinstance(event, Token) and event.text:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Notice):
            if notices_to_stderr and event.code == "context_trimmed":
                print(
                    f"[{event.detail} older messages left out to fit the context]", file=sys.stderr
                )
            log.info("notice %s: %s", event.code, event.detail)

    try:
        events = sw.wait(rid, timeout=None, on_event=show)
    except KeyboardInterrupt:
        sw.worker.cancel(rid)
        events = sw.wait(rid, timeout=30, on_event=show)
        if not notices_to_stderr:
            raise
    sys.stdout.write("\n")
    sys.stdout.flush()
    _failed(events[-1])
    return events[-1]  # type: ignore[return-value]


# --- commands -----------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from desktop_app.core.engine.protocol import ChatMessage

    sw, _info = _start(args)
    with sw:
        sampling = _sampling(args.preset, args.max_tokens)
        if args.raw:
            rid = sw.worker.generate(prompt=args.prompt, sampling=sampling)
        else:
            rid = sw.worker.generate(messages=[ChatMessage("user", args.prompt)], sampling=sampling)
        _stream(sw, rid, notices_to_stderr=False)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from desktop_app.core.engine.protocol import ChatMessage

    sw, info = _start(args)
    interactive = sys.stdin.isatty()
    with sw:
        history: list[ChatMessage] = []
        if args.system:
            history.append(ChatMessage("system", args.system))
        if interactive:
            print(f"Chatting with {info.path} (/exit to quit)", file=sys.stderr)
        sampling = _sampling(args.preset, args.max_tokens)
        while True:
            if interactive:
                print("> ", end="", file=sys.stderr, flush=True)
            try:
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                break
            if not line or line.strip() == "/exit":
                break
            if not line.strip():
                continue
            history.append(ChatMessage("user", line.rstrip("\n")))
            rid = sw.worker.generate(messages=history, sampling=sampling)
            done = _stream(sw, rid, notices_to_stderr=True)
            history.append(ChatMessage("assistant", done.text))
    return 0


def _bench_prompt(sw: SyncWorker, n_tokens: int) -> str:
    """Text that tokenizes to about ``n_tokens`` tokens (BOS included) for this model."""
    text = _BENCH_TEXT
    while True:
        tokens = sw.result(sw.worker.tokenize(text, add_bos=False), timeout=60)
        _failed(tokens)
        if len(tokens.tokens) >= n_tokens:
            break
        text += _BENCH_TEXT
    cut = tokens.tokens[: max(1, n_tokens - 1)]  # the worker adds BOS
    back = sw.result(sw.worker.detokenize(cut), timeout=60)
    _failed(back)
    return str(back.text).lstrip(" ")


def cmd_bench(args: argparse.Namespace) -> int:
    sw, info = _start(args)
    with sw:
        if args.prompt_tokens + args.gen_tokens > info.n_ctx:
            raise CommandFailed("--prompt-tokens plus --gen-tokens must fit in --ctx")
        prompt = _bench_prompt(sw, args.prompt_tokens)
        warmup = sw.wait(sw.worker.generate(prompt="Hello", sampling=_sampling("Precise", 4)))
        _failed(warmup[-1])
        # A different first word than the warm-up: the prompt is evaluated in full.
        events = sw.wait(
            sw.worker.generate(prompt=prompt, sampling=_sampling("Precise", args.gen_tokens)),
            timeout=None,
        )
        _failed(events[-1])
        done: Done = events[-1]  # type: ignore[assignment]
    s = done.stats
    result = {
        "file": info.path,
        "threads": info.n_threads,
        "threads_batch": info.n_threads_batch,
        "threads_auto": info.threads_auto,
        "gen_threads": s.threads,  # at the end of the run (the tuner's choice when auto)
        "n_ctx": info.n_ctx,
        "prompt_tokens": s.prompt_tokens,
        "gen_tokens": s.generated_tokens,
        "prompt_tps": round(s.prompt_tps, 2),
        "gen_tps": round(s.gen_tps, 2),
        # llama_decode alone (no sampling, no streaming), as llama-bench counts
        "prompt_decode_tps": round(s.prompt_decode_tps, 2),
        "gen_decode_tps": round(s.gen_decode_tps, 2),
        "ttft_s": round(s.ttft_s, 4),
        "peak_rss": s.peak_rss_bytes,
        "use_mmap": info.use_mmap,
        "huge_page_bytes": info.huge_page_bytes,  # after the load
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if info.threads_auto:
        print(f"{info.path}: threads auto, settled on {s.threads} for generation")
    else:
        print(f"{info.path}: {info.n_threads} threads ({info.n_threads_batch} for prompts)")
    print(f"Prompt      {s.prompt_tokens:>5} tokens  {s.prompt_tps:8.1f} tokens/s")
    print(f"Generation  {s.generated_tokens:>5} tokens  {s.gen_tps:8.1f} tokens/s")
    print(
        f"Decode only {s.prompt_decode_tps:8.1f} prompt / {s.gen_decode_tps:.1f} generation "
        "tokens/s (without sampling, as llama-bench counts)"
    )
    print(f"First token {s.ttft_s * 1000:8.0f} ms")
    print(f"Peak memory {human_bytes(s.peak_rss_bytes):>10}")
    where = "the file mapped" if info.use_mmap else "the worker's own memory"
    print(f"Weights in  {where}, {human_bytes(info.huge_page_bytes)} on huge pages")
    return 0
