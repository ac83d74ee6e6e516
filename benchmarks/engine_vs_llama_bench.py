"""QuantDesk's default load settings against llama.cpp's own llama-bench, on this machine.

llama-bench with its own defaults (-p 512 -n 128, -fa on, its default thread count, OpenMP's
default wait policy, one repetition after its warm-up) against QuantDesk's engine through the
worker process with ``LoadSettings(path)`` as the app loads a model (automatic threads: every
physical core, tuned while generating by engine/thread_tuner.py). Interleaved (A B, B A, ...;
who goes first alternates every round), the median of the per-round ratios as the headline, on
the realistic-shape F16 and Q4_K_M files, in two conditions:

1. ``defaults``: the machine as it is;
2. ``busy``: with one extra CPU-bound process for the whole comparison (another program
   keeping a core busy), where spinning OpenMP threads on every core collapse;
3. ``control`` (on request): llama-bench against itself, the noise floor of such a ratio here
   (its own section in RESULTS.md).

The engine is timed in this process as Token events arrive, like the app sees them: prompt
speed = evaluated prompt tokens / time to the first token of a 512-token prompt; generation
speed = tokens after the first / time from the first to the last of 128 tokens after a short
prompt (llama-bench's tg128 also starts from an almost empty context). Every engine sample is a
fresh worker (spawned, model loaded, a warm-up reply of 4 tokens to a prompt as long as the
measured one), as every llama-bench run is a fresh process that first runs its test once; the
thread count the tuner settled on in each reply is reported. Each process repeats each test
``--reps`` times (llama-bench -r; default 3) and a sample is the median of its repetitions: this
VM's speed drifts by 5-10% from one minute to the next, so a single repetition per process
(what this script used to time) reads the moment more than the settings. The first
repetition's prompt ratio is kept in its own column. The measured prompt spans the same
512 positions as llama-bench's pp512: BOS stays in the KV cache from the warm-up, the other 511
tokens are evaluated. (A 513th position would cost 2-3%: the attention then covers 768 cache
cells, padded to 256, instead of 512.) Timing those 511 tokens after a cached BOS reads about 1%
below timing 512 from an empty cache (``prompt_path.py``, engine against engine-511), so the
prompt ratios here lean about 1% against QuantDesk; ``prompt_path.py`` compares prompts in turns.
The machine is shared: the background CPU use of other processes is sampled from /proc/stat
before each comparison and reported with the load average.

Usage:
    python benchmarks/engine_vs_llama_bench.py [--quants F16,Q4_K_M] [--rounds 6]
        [--reps 3] [--parts defaults,busy,control] [--no-write]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.pop("OMP_WAIT_POLICY", None)  # the app leaves OpenMP's default wait policy
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fit_accuracy import _write_section, ensure_models  # noqa: E402
from benchmarks.native_tools import ensure_tool, llama_cpp_python_version  # noqa: E402
from desktop_app.core import llama_backend  # noqa: E402
from desktop_app.core.engine.client import SyncWorker  # noqa: E402
from desktop_app.core.engine.protocol import (  # noqa: E402
    SAMPLING_PRESETS,
    Done,
    Loaded,
    LoadSettings,
    ModelInfo,
    Token,
)
from desktop_app.core.hardware import read_machine_info  # noqa: E402

N_PROMPT = 512
N_GEN = 128
HEADING = "## Engine vs llama-bench: QuantDesk's default load settings"
CONTROL_HEADING = "## Engine vs llama-bench: noise control"
TABLE_HEAD = (  # the columns of Comparison.row(True)
    "| quant | machine | background | load | A vs B | gen tok/s A / B | gen ratio "
    "| gen ratio, decode only | threads | prompt tok/s A / B | prompt ratio "
    "| prompt ratio, decode only | prompt ratio, first prompt |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
)
GREEDY = SAMPLING_PRESETS["Precise"]
WORDS = "apple river stone cloud forest candle mirror garden violin harbor lantern meadow".split()
FILLER = (
    " the model reads a long prompt and then writes an answer one token at a time while we "
    "measure how fast each step goes on this machine with its memory and its cores"
)


@dataclass
class Sample:
    """One fresh process's speeds: the median of its repetitions (``--reps``)."""

    prompt_tps: float | None  # None: not measured in this comparison
    gen_tps: float
    threads: int = 0  # generation threads at the end of the reply (engine) or -t (llama-bench)
    # llama_decode alone, without sampling or streaming (llama-bench measures only this)
    prompt_decode: float | None = None
    gen_decode: float = 0.0
    # The first repetition alone: a chat's first prompt after the load comes right after it.
    prompt_first: float | None = None


# --- the machine -------------------------------------------------------------------------------


def _cpu_times() -> tuple[float, float]:
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def background_cpu(seconds: float = 3.0) -> float:
    """Fraction of all cores busy with other people's work while this script does nothing."""
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    return (busy1 - busy0) / max(1.0, total1 - total0)


@contextmanager
def extra_busy_core(enabled: bool) -> Iterator[None]:
    """One CPU-bound process for the duration (the 'another core is busy' case)."""
    if not enabled:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


# --- llama-bench -------------------------------------------------------------------------------


def llama_bench(
    binary: Path, model: Path, *, threads: int | None, n_prompt: int, reps: int = 1
) -> Sample:
    """One llama-bench run: its warm-up, then ``reps`` repetitions of each test."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)  # llama-bench's default: OpenMP's own wait policy
    cmd = [str(binary), "-m", str(model), "-p", str(n_prompt), "-n", str(N_GEN), "-fa", "1"]
    cmd += ["-r", str(reps), "-o", "json"] + (["-t", str(threads)] if threads else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    pp_row = next((r for r in rows if r["n_prompt"] and not r["n_gen"]), None)
    pp = [float(x) for x in pp_row["samples_ts"]] if pp_row else None
    tg = next(r for r in rows if r["n_gen"] and not r["n_prompt"])
    gen = statistics.median(float(x) for x in tg["samples_ts"])
    pp_med = statistics.median(pp) if pp else None
    return Sample(pp_med, gen, int(tg["n_threads"]), pp_med, gen, pp[0] if pp else None)


def llama_bench_threads(binary: Path, model: Path) -> int:
    """The thread count llama-bench uses when -t is not given."""
    cmd = [str(binary), "-m", str(model), "-p", "0", "-n", "1", "-r", "1", "-o", "json"]
    cmd.append("--no-warmup")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return int(json.loads(out)[0]["n_threads"])


# --- QuantDesk's engine ------------------------------------------------------------------------


class PromptTexts:
    """Prompts of an exact token count, each starting with its own word (no shared prefix
    beyond BOS, so no sample reuses another's KV cache)."""

    def __init__(self, model: Path) -> None:
        lc = llama_backend.llama()
        self._llm = lc.Llama(str(model), vocab_only=True, verbose=False)

    def make(self, index: int, n_tokens: int) -> str:
        text = f"{WORDS[index % len(WORDS)]} {index}"
        while len(self._llm.tokenize(text.encode(), add_bos=True)) < n_tokens:
            text += FILLER
        tokens = self._llm.tokenize(text.encode(), add_bos=False)[: n_tokens - 1]
        return self._llm.detokenize(tokens).decode("utf-8", errors="replace").lstrip(" ")


def _timed_generate(sw: SyncWorker, text: str, max_tokens: int) -> tuple[float, list[float], Done]:
    times: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, Token):
            times.append(time.perf_counter())

    sampling = dataclasses.replace(GREEDY, max_tokens=max_tokens)
    start = time.perf_counter()
    events = sw.wait(sw.worker.generate(prompt=text, sampling=sampling), 600, on_event)
    done = events[-1]
    assert isinstance(done, Done), done
    return start, times, done


def engine_sample(
    model: Path,
    settings: LoadSettings,
    texts: PromptTexts,
    index: int,
    *,
    prompt: bool,
    reps: int = 1,
) -> tuple[Sample, ModelInfo]:
    """A fresh worker: load, warm up, then (optionally) ``reps`` 512-token prompts, then
    ``reps`` replies of 128 tokens; the medians, as llama-bench's -r runs each test ``reps``
    times in one process."""
    with SyncWorker(name="bench-worker") as sw:
        loaded = sw.result(sw.worker.load(settings), 600)
        assert isinstance(loaded, Loaded), loaded
        # Warm-up, as llama-bench's: the first full batch touches the compute buffer's pages.
        _timed_generate(sw, texts.make(1000 + index, N_PROMPT if prompt else 64), 4)
        whole: list[float] = []
        decode: list[float] = []
        for rep in range(reps if prompt else 0):
            start, times, done = _timed_generate(sw, texts.make(index * reps + rep, N_PROMPT), 1)
            # BOS is reused from the last reply's KV cache: N_PROMPT - 1 tokens are evaluated.
            whole.append((done.stats.prompt_tokens - 1) / (times[0] - start))
            decode.append(done.stats.prompt_decode_tps)
        gen: list[float] = []
        gen_decode: list[float] = []
        for rep in range(reps):
            short = f"{WORDS[(index + rep) % len(WORDS)]} {index * reps + rep}"
            _, times, done = _timed_generate(sw, short, N_GEN)
            if len(times) < N_GEN // 2:
                raise RuntimeError(f"only {len(times)} tokens generated (end of generation)")
            gen.append((len(times) - 1) / (times[-1] - times[0]))
            gen_decode.append(done.stats.gen_decode_tps)
        sample = Sample(
            statistics.median(whole) if whole else None,
            statistics.median(gen),
            done.stats.threads,
            statistics.median(decode) if decode else None,
            statistics.median(gen_decode),
            whole[0] if whole else None,
        )
        return sample, loaded.info


# --- comparisons -------------------------------------------------------------------------------


def interleave(a: Callable[[int], Sample], b: Callable[[int], Sample], rounds: int) -> Any:
    out_a: list[Sample] = []
    out_b: list[Sample] = []
    for i in range(rounds):
        for side in (a, b) if i % 2 == 0 else (b, a):
            (out_a if side is a else out_b).append(side(i))
        print(
            f"  round {i + 1}: gen {out_a[-1].gen_tps:.1f} / {out_b[-1].gen_tps:.1f} tok/s"
            + (
                f", prompt {out_a[-1].prompt_tps:.0f} / {out_b[-1].prompt_tps:.0f} tok/s"
                if out_a[-1].prompt_tps and out_b[-1].prompt_tps
                else ""
            ),
            flush=True,
        )
    return out_a, out_b


def ratio(a: list[Sample], b: list[Sample], field: str) -> float:
    return statistics.median(
        getattr(x, field) / getattr(y, field) for x, y in zip(a, b, strict=True)
    )


def med(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


@dataclass
class Comparison:
    part: str
    quant: str
    condition: str  # "as is" or "+1 busy process"
    a_label: str
    b_label: str
    a: list[Sample]
    b: list[Sample]
    background: float  # other processes' share of all cores, just before
    load: tuple[float, float]  # 1-min load average before / after

    def row(self, with_prompt: bool) -> str:
        cells = [
            self.quant,
            self.condition,
            f"{self.background * 100:.0f}%",
            f"{self.load[0]:.1f} / {self.load[1]:.1f}",
            f"{self.a_label} vs {self.b_label}",
            f"{med(self.a, 'gen_tps'):.1f} / {med(self.b, 'gen_tps'):.1f}",
            f"{ratio(self.a, self.b, 'gen_tps'):.3f}",
            f"**{ratio(self.a, self.b, 'gen_decode'):.3f}**",
            "/".join(str(s.threads) for s in self.a),
        ]
        if with_prompt:
            cells += [
                f"{med(self.a, 'prompt_tps'):.0f} / {med(self.b, 'prompt_tps'):.0f}",
                f"{ratio(self.a, self.b, 'prompt_tps'):.3f}",
                f"**{ratio(self.a, self.b, 'prompt_decode'):.3f}**",
                f"{ratio(self.a, self.b, 'prompt_first'):.3f}",
            ]
        return "| " + " | ".join(cells) + " |"


def compare(
    part: str,
    quant: str,
    busy: bool,
    labels: tuple[str, str],
    a: Callable[[int], Sample],
    b: Callable[[int], Sample],
    rounds: int,
) -> Comparison:
    condition = "+1 busy process" if busy else "as is"
    background = background_cpu()
    load0 = os.getloadavg()[0]
    print(f"{part} {quant} ({condition}, background {background:.0%}): {labels}", flush=True)
    with extra_busy_core(busy):
        out_a, out_b = interleave(a, b, rounds)
    result = Comparison(
        part, quant, condition, *labels, out_a, out_b, background, (load0, os.getloadavg()[0])
    )
    print("  ->", result.row(out_a[0].prompt_tps is not None), flush=True)
    return result


def bench_model(
    quant: str, model: Path, bench: Path, args: argparse.Namespace, facts: dict[str, Any]
) -> list[Comparison]:
    parts, rounds, reps = args.parts.split(","), args.rounds, args.reps
    texts = PromptTexts(model)
    defaults = LoadSettings(str(model))

    def worker(i: int) -> Sample:
        result, info = engine_sample(model, defaults, texts, i, prompt=True, reps=reps)
        facts[f"threads-{quant}"] = (info.n_threads, info.n_threads_batch)
        return result

    def bench_run(_i: int) -> Sample:
        return llama_bench(bench, model, threads=None, n_prompt=N_PROMPT, reps=reps)

    labels = ("QuantDesk", "llama-bench")
    out = [
        compare(part, quant, part == "busy", labels, worker, bench_run, rounds)
        for part in ("defaults", "busy")
        if part in parts
    ]
    if "control" in parts:  # two identical llama-bench runs: this machine's noise floor
        pair = ("llama-bench", "llama-bench")
        # Two distinct callables: interleave tells the sides apart by identity.
        again = lambda i: bench_run(i)  # noqa: E731
        out.append(compare("control", quant, False, pair, bench_run, again, rounds))
    return out


def run(args: argparse.Namespace) -> tuple[list[Comparison], dict[str, Any]]:
    bench = ensure_tool("llama-bench")
    models = ensure_models("realistic", args.quants.split(","))
    facts: dict[str, Any] = {
        "bench_threads": llama_bench_threads(bench, next(iter(models.values()))),
    }
    comparisons: list[Comparison] = []
    for quant, model in models.items():
        comparisons += bench_model(quant, model, bench, args, facts)
    return comparisons, facts


def report(
    comparisons: list[Comparison], facts: dict[str, Any], rounds: int, reps: int, load: str
) -> str:
    m = read_machine_info(ROOT)
    quants = sorted({c.quant for c in comparisons}, key=lambda q: q != "F16")
    threads = ", ".join(
        f"{q} {facts.get(f'threads-{q}', ('?', '?'))[0]}/{facts.get(f'threads-{q}', ('?', '?'))[1]}"
        for q in quants
    )
    lines = [
        f"{HEADING} ({dt.date.today().isoformat()})",
        "",
        f"Machine: {m.cpu_model}, {m.physical_cores} cores ({m.logical_cores} logical), "
        f"{m.total_ram / 2**30:.1f} GiB RAM, {platform.system()} {platform.release()}. "
        f"llama-bench built from the llama.cpp in llama-cpp-python {llama_cpp_python_version()} "
        "with the Makefile's portable flags (`benchmarks/native_tools.py`), the same kernels as "
        "the wheel. Models: random-weight Llama `realistic` shape (0.5B). "
        f"{rounds} interleaved rounds per comparison (A B, B A, ...), median of per-round "
        "ratios (A / B; above 1 = A faster). Load average (1 min) at start / end of the run: "
        f"{load}; 'background' = CPU share of all cores used by other processes in the 3 s "
        "before each comparison (the machine is shared with other engineers' test runs). "
        "Command: `python benchmarks/engine_vs_llama_bench.py`.",
        "",
    ]
    by_part = {
        p: [c for c in comparisons if c.part == p]
        for p in dict.fromkeys(c.part for c in comparisons)
    }
    lines += [
        "QuantDesk: the engine through its worker process, `LoadSettings(path)` as the app "
        f"loads a model (threads gen/prompt at load: {threads}, generation then tuned; flash "
        "attention on; n_batch = n_ubatch = 512; KV f16; n_ctx 4096; no mmap and huge pages, "
        "the engine's defaults), timed in the app process as tokens arrive. "
        f"llama-bench: `-p {N_PROMPT} -n {N_GEN} -fa 1 -r {reps}` and its defaults "
        f"(-t {facts['bench_threads']}, -b 2048 -ub 512, no OMP_WAIT_POLICY). Prompt: "
        f"{N_PROMPT} positions, as in pp{N_PROMPT} (after a warm-up reply to a prompt as long, "
        f"whose BOS stays cached: {N_PROMPT - 1} tokens evaluated); generation: {N_GEN} tokens "
        f"after a short prompt. Each process runs each test {reps} times, as llama-bench's -r "
        f"does (its default is 5): the worker answers {reps} prompts, then {reps} short ones "
        "with 128 tokens; a sample is the median of its repetitions. 'First prompt': the first "
        "repetition alone (llama-bench's first after its warm-up), as a chat's first prompt "
        "after loading. 'Decode only': "
        "QuantDesk's llama_decode time alone (the worker times it), without sampling, the "
        "per-token probabilities and streaming to the app, which is all llama-bench measures "
        "(it decodes without sampling): this compares the load settings, the ratios before it "
        "the whole path a user sees. 'threads': the "
        "generation thread count QuantDesk's tuner settled on in each round's reply. '+1 busy "
        "process': one extra CPU-bound process for the whole comparison.",
        "",
        *TABLE_HEAD,
        *(c.row(True) for part in ("defaults", "busy") for c in by_part.get(part, [])),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quants", default="F16,Q4_K_M")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--reps", type=int, default=3, help="repetitions of each test per process (llama-bench -r)"
    )
    parser.add_argument("--parts", default="defaults,busy", help="also: control")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.rounds < 6:
        parser.error("--rounds must be at least 6")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    started = time.monotonic()
    load0 = os.getloadavg()[0]
    comparisons, facts = run(args)
    load = f"{load0:.2f} / {os.getloadavg()[0]:.2f}"
    print(f"done in {time.monotonic() - started:.0f} s")
    main_parts = [c for c in comparisons if c.part != "control"]
    controls = [c for c in comparisons if c.part == "control"]
    if main_parts:
        text = report(main_parts, facts, args.rounds, args.reps, load)
        print(text)
        if not args.no_write:
            _write_section(Path(args.results), HEADING, text)
    if controls:
        text = control_report(controls, args.rounds, args.reps, load)
        print(text)
        if not args.no_write:
            _write_section(Path(args.results), CONTROL_HEADING, text)
    return 0


def control_report(comparisons: list[Comparison], rounds: int, reps: int, load: str) -> str:
    return "\n".join(
        [
            f"{CONTROL_HEADING} ({dt.date.today().isoformat()})",
            "",
            "How far two identical llama-bench runs drift apart on this machine, measured as "
            '"Engine vs llama-bench: QuantDesk\'s default load settings" is (same rounds, '
            "interleaving and medians of per-round "
            f"ratios; {rounds} rounds of -r {reps}; load average at start / end {load}). A "
            "QuantDesk ratio "
            "this close to 1 cannot be told from parity here. Command: `python "
            "benchmarks/engine_vs_llama_bench.py --parts control`.",
            "",
            *TABLE_HEAD,
            *(c.row(True) for c in comparisons),
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
