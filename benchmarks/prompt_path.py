"""Where prompt speed goes between a bare llama.cpp context and QuantDesk's engine.

``engine_vs_llama_bench.py`` compares whole processes, one after another, and this VM's speed
drifts by 5-10% from one minute to the next: that resolves 5%, not 2%. This benchmark keeps one
persistent process per *path* alive and asks each, in turn, for one 512-token prompt (the same
512 positions as llama-bench's pp512), rotating who goes first every round. The headline is the
median over rounds of each path's speed divided by the reference's in the same round.

Paths (``--paths``, the first is the reference):

* ``llama-bench``: llama.cpp's own tool, run once per turn (``-p 512 -n 0 -fa 1 -r 1``: its
  warm-up, then one pp512). A fresh process each time, but timed by llama-bench itself, in the
  same rotation as the others, so the minute's drift cancels out of its ratios too.
  ``llama-bench-511``: the same with ``-p 511``, the work the ``engine-511`` and ``worker``
  paths time.

* ``bare``: llama-cpp-python's low-level API with llama-bench's settings (n_ctx 512, n_batch
  2048, n_ubatch 512, every physical core, flash attention, the file mapped), timed around one
  ``llama_decode`` of a ``llama_batch_get_one`` batch. What llama-bench does, from Python.
* ``bare-qd``: the same path with QuantDesk's default load settings (n_ctx 4096, n_batch 512,
  not mapped, huge pages, the abort callback installed): the settings alone.
* ``llama``: ``llama_cpp.Llama`` built with QuantDesk's settings, timed around the same bare
  ``llama_decode`` on its context: how ``Llama`` builds the model and context.
* ``llama-eval``: the same, timed around ``Llama.eval``: ``Llama``'s batch and bookkeeping.
* ``engine``: ``engine.loader.load_model(LoadSettings(path))`` as the worker calls it, timed
  around ``EngineLlama.eval`` with a cancel check installed, as a chat's prompt runs.
* ``engine-511``: the same, with BOS evaluated first and the other 511 tokens timed, as the
  worker path and ``engine_vs_llama_bench.py`` measure (one batch of 511, not 512).
* ``engine-chat``: the worker's own flow in this process: ``engine.generation.generate`` on a
  512-token text prompt (BOS cached from the previous one), one token, ``prompt_decode_tps``.
  Against ``worker``, it separates the process from the flow.
* ``worker``: a model worker process (``SyncWorker``) asked for one token after a 512-token
  text prompt, its prompt decode speed as the worker reports it (``prompt_decode_tps``, the
  511 tokens after BOS, which stays cached). The process here only relays.

A path may be named twice with a suffix (``llama-bench#2``, ``bare#2``): a second, independent
copy in the rotation, whose ratio to the first is the noise floor of this method.

Usage:
    python benchmarks/prompt_path.py [--quants Q4_K_M,F16] [--rounds 20]
        [--paths bare,bare-qd,llama,engine] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATHS = (
    "llama-bench",
    "llama-bench-511",
    "bare",
    "bare-qd",
    "llama",
    "llama-eval",
    "engine",
    "engine-511",
    "engine-chat",
    "worker",
)
PROMPT = 512
HUGE_PAGES = "glibc.malloc.hugetlb=1"
HEADING = "## Prompt path: bare llama.cpp to the engine, in turns"


# --- the persistent processes -------------------------------------------------------------


def _bare_context(lc: Any, path: str, *, quantdesk: bool) -> tuple[Any, Any]:
    from desktop_app.core.hardware import default_threads

    threads = default_threads()
    mp = lc.llama_model_default_params()
    mp.load_mode = lc.LLAMA_LOAD_MODE_NONE if quantdesk else lc.LLAMA_LOAD_MODE_MMAP
    model = lc.llama_model_load_from_file(path.encode(), mp)
    cp = lc.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = (4096, 512, 512) if quantdesk else (512, 2048, 512)
    cp.n_threads = cp.n_threads_batch = threads
    cp.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
    ctx = lc.llama_init_from_model(model, cp)
    return model, ctx


def _bare_decoder(lc: Any, ctx: Any) -> Callable[[list[int]], None]:
    memory = lc.llama_get_memory(ctx)

    def decode(tokens: list[int]) -> None:
        lc.llama_memory_clear(memory, True)
        array = (lc.llama_token * len(tokens))(*tokens)
        if lc.llama_decode(ctx, lc.llama_batch_get_one(array, len(tokens))) != 0:
            raise RuntimeError("llama_decode failed")
        lc.llama_synchronize(ctx)

    return decode


def _llama_kwargs() -> dict[str, Any]:
    from desktop_app.core.engine.loader import resolve_threads
    from desktop_app.core.engine.protocol import LoadSettings

    settings = LoadSettings("")
    threads = resolve_threads(settings)
    return {
        "n_ctx": settings.n_ctx,
        "n_batch": settings.n_batch,
        "n_ubatch": settings.n_ubatch,
        "n_threads": threads.n_threads,
        "n_threads_batch": threads.n_threads_batch,
        "flash_attn": settings.flash_attn,
        "use_mmap": False,
        "verbose": True,
    }


def _serve_worker(path: str) -> None:
    from benchmarks.engine_vs_llama_bench import N_PROMPT, PromptTexts, _timed_generate
    from desktop_app.core.engine.client import SyncWorker
    from desktop_app.core.engine.protocol import Loaded, LoadSettings

    texts = PromptTexts(Path(path))
    with SyncWorker(name="prompt-path") as sw:
        loaded = sw.result(sw.worker.load(LoadSettings(path)), 600)
        if not isinstance(loaded, Loaded):
            raise SystemExit(f"load failed: {loaded}")
        _timed_generate(sw, texts.make(1000, N_PROMPT), 4)  # warm-up
        print("ready", flush=True)
        for index, _line in enumerate(sys.stdin):
            _start, _times, done = _timed_generate(sw, texts.make(index, N_PROMPT), 1)
            print(done.stats.prompt_decode_tps, flush=True)


def _serve_engine_chat(path: str) -> None:
    from benchmarks.engine_vs_llama_bench import GREEDY, N_PROMPT, PromptTexts
    from desktop_app.core.engine.generation import GenerationRun, TokenReader, generate
    from desktop_app.core.engine.loader import load_model
    from desktop_app.core.engine.protocol import LoadSettings

    loaded = load_model(
        LoadSettings(path),
        progress=lambda _f: True,
        cancelled=lambda: False,
        last_error=lambda: "",
    )
    llm, texts = loaded.llm, PromptTexts(Path(path))
    reader = TokenReader(llm, loaded.vocab)

    def prompt_decode_tps(index: int, max_tokens: int) -> float:
        tokens = llm.tokenize(texts.make(index, N_PROMPT).encode(), add_bos=True)
        run = GenerationRun(
            request_id=index + 1,
            sampling=replace(GREEDY, max_tokens=max_tokens),
            emit=lambda _event: None,
            cancelled=lambda: False,
            received_at=time.perf_counter(),
        )
        _text, stats = generate(llm, reader, tokens, run)
        return stats.prompt_decode_tps

    prompt_decode_tps(1000, 4)  # warm-up, as the worker path's
    print("ready", flush=True)
    for index, _line in enumerate(sys.stdin):
        print(prompt_decode_tps(index, 1), flush=True)


def _serve(kind: str, path: str) -> None:
    """One path, kept alive: prints 'ready', then one prompt's tokens/s per line read."""
    if kind == "worker":
        _serve_worker(path)
        return
    if kind == "engine-chat":
        _serve_engine_chat(path)
        return
    from desktop_app.core import llama_backend

    lc = llama_backend.llama()
    keep: list[Any] = []  # callbacks and objects llama.cpp holds raw pointers to
    if kind in ("bare", "bare-qd"):
        model, ctx = _bare_context(lc, path, quantdesk=kind == "bare-qd")
        if kind == "bare-qd":
            callback = lc.ggml_abort_callback(lambda _data: False)
            lc.llama_set_abort_callback(ctx, callback, None)
            keep.append(callback)
        decode = _bare_decoder(lc, ctx)
        vocab = lc.llama_model_get_vocab(model)
        n_vocab, bos = lc.llama_vocab_n_tokens(vocab), lc.llama_vocab_bos(vocab)
    elif kind in ("llama", "llama-eval"):
        llm = lc.Llama(path, **_llama_kwargs())
        keep.append(llm)
        n_vocab, bos = llm.n_vocab(), llm.token_bos()
        decode = _bare_decoder(lc, llm.ctx) if kind == "llama" else _eval_decoder(lc, llm)
    elif kind in ("engine", "engine-511"):
        from desktop_app.core.engine.loader import load_model
        from desktop_app.core.engine.protocol import LoadSettings

        loaded = load_model(
            LoadSettings(path),
            progress=lambda _f: True,
            cancelled=lambda: False,
            last_error=lambda: "",
        )
        llm = loaded.llm
        llm.abort_check = lambda: False  # as generation installs the request's cancel flag
        keep.append(loaded)
        n_vocab, bos = llm.n_vocab(), llm.token_bos()
        decode = _eval_decoder(lc, llm)
    else:
        raise SystemExit(f"unknown path {kind!r}")

    rng = random.Random(kind)

    def prompt_tps() -> float:
        tokens = [bos] + [rng.randrange(n_vocab) for _ in range(PROMPT - 1)]
        if kind == "engine-511":  # BOS already cached, as the worker path measures
            decode(tokens[:1])
            started = time.perf_counter()
            llm.eval(tokens[1:])
            return (PROMPT - 1) / (time.perf_counter() - started)
        started = time.perf_counter()
        decode(tokens)
        return PROMPT / (time.perf_counter() - started)

    prompt_tps()  # warm-up, as llama-bench runs each test once first
    print("ready", flush=True)
    for _line in sys.stdin:
        print(prompt_tps(), flush=True)


def _eval_decoder(lc: Any, llm: Any) -> Callable[[list[int]], None]:
    def decode(tokens: list[int]) -> None:
        lc.llama_memory_clear(lc.llama_get_memory(llm.ctx), True)
        llm.n_tokens = 0
        llm.eval(tokens)

    return decode


# --- the comparison ------------------------------------------------------------------------


def _base(kind: str) -> str:
    """The path a rotation entry runs: ``bare#2`` is a second ``bare``."""
    return kind.split("#", 1)[0]


class Server:
    def __init__(self, kind: str, model: Path) -> None:
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        # The paths with QuantDesk's settings get the huge pages its workers get.
        env["GLIBC_TUNABLES"] = "" if _base(kind) == "bare" else HUGE_PAGES
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", _base(kind), "--model", str(model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        if self._line() != "ready":
            raise RuntimeError(f"{kind} did not start")

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def prompt_tps(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


class LlamaBenchRuns:
    """llama-bench in the rotation: one fresh run per turn."""

    def __init__(self, model: Path, kind: str) -> None:
        from benchmarks.native_tools import ensure_tool

        self.kind = kind
        n_prompt = PROMPT - 1 if _base(kind) == "llama-bench-511" else PROMPT
        self._cmd = [str(ensure_tool("llama-bench")), "-m", str(model), "-p", str(n_prompt)]
        self._cmd += ["-n", "0", "-fa", "1", "-r", "1", "-o", "json"]

    def prompt_tps(self) -> float:
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        env.pop("GLIBC_TUNABLES", None)
        out = subprocess.run(self._cmd, env=env, check=True, capture_output=True, text=True)
        return float(json.loads(out.stdout)[0]["avg_ts"])

    def close(self) -> None:
        pass


def compare(model: Path, kinds: list[str], rounds: int) -> dict[str, list[float]]:
    servers: list[Server | LlamaBenchRuns] = [
        LlamaBenchRuns(model, kind)
        if _base(kind).startswith("llama-bench")
        else Server(kind, model)
        for kind in kinds
    ]
    speeds: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for round_no in range(rounds):
            shift = round_no % len(servers)
            order = servers[shift:] + servers[:shift]
            for server in reversed(order) if round_no % 2 else order:
                speeds[server.kind].append(server.prompt_tps())
            print(
                f"  round {round_no + 1}: "
                + ", ".join(f"{kind} {values[-1]:.1f}" for kind, values in speeds.items()),
                flush=True,
            )
    finally:
        for server in servers:
            server.close()
    return speeds


def ratios(speeds: dict[str, list[float]]) -> dict[str, tuple[float, float, float]]:
    """Per path: median, lowest and highest of the per-round ratios to the first path."""
    reference = list(speeds.values())[0]
    out = {}
    for kind, values in list(speeds.items())[1:]:
        per_round = [value / ref for value, ref in zip(values, reference, strict=True)]
        out[kind] = (statistics.median(per_round), min(per_round), max(per_round))
    return out


def report(results: dict[str, dict[str, list[float]]], rounds: int) -> str:
    from benchmarks.bundle_start import machine_line

    lines = [
        f"{machine_line()} Date: {dt.date.today().isoformat()}. {rounds} rounds per model. "
        "Command: `python benchmarks/prompt_path.py`.",
        "",
        "| model | path | prompt tok/s (median) | ratio to the first path | lowest | highest |",
        "|---|---|---|---|---|---|",
    ]
    for quant, speeds in results.items():
        first = list(speeds)[0]
        lines.append(f"| {quant} | {first} | {statistics.median(speeds[first]):.1f} | 1 | | |")
        for kind, (median, low, high) in ratios(speeds).items():
            lines.append(
                f"| {quant} | {kind} | {statistics.median(speeds[kind]):.1f} | **{median:.3f}** "
                f"| {low:.3f} | {high:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--quants", default="Q4_K_M,F16")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.model)
        return 0
    from benchmarks.fit_accuracy import _write_section, ensure_models

    models = ensure_models("realistic", args.quants.split(","))
    kinds = args.paths.split(",")
    results = {}
    for quant in args.quants.split(","):
        print(f"{quant}: {', '.join(kinds)}", flush=True)
        results[quant] = compare(models[quant], kinds, args.rounds)
    text = report(results, args.rounds)
    print(text)
    if not args.no_write:
        _write_section(ROOT / "benchmarks" / "RESULTS.md", HEADING, HEADING + "\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
