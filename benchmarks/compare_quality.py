"""Compare's measured quality against llama.cpp's llama-perplexity, and parallel vs sequential.

1. Agreement: the same text, model pair (F16 reference, a quantized variant) and n_ctx through
   ``llama-perplexity --kl-divergence-base`` / ``--kl-divergence`` and through QuantDesk's
   ``run_compare`` in text mode. Reported: PPL of both, mean KLD, same-top-1, and the relative
   differences (target: within 1%).
2. Speed: evaluation tokens/s of the variant's scoring pass: llama-perplexity's own "seconds
   per pass" (decode and KL of n_seq chunks together), QuantDesk's the worker's whole scoring
   time (decode, log-softmax, KL, reading reference rows). Both with the same threads.
   Target: >= 0.8x. Runs alternate.
3. Parallel vs sequential: a chat comparison of the variants both ways, alternating; aggregate
   tokens/s = (generated + scored tokens of all panes) / wall time. Target: parallel >= 0.9x.

Usage: python benchmarks/compare_quality.py [--quant Q4_K_M] [--ctx 512] [--rounds 3]
The worker processes re-import this script (spawn): its top level only defines things.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from desktop_app.core.compare.plan import plan_run  # noqa: E402
from desktop_app.core.compare.results import COMPARE_SAMPLING, CompareSpec  # noqa: E402
from desktop_app.core.compare.runner import run_compare  # noqa: E402
from desktop_app.core.engine.protocol import ChatMessage  # noqa: E402
from desktop_app.core.hardware import read_machine_info  # noqa: E402
from desktop_app.resources import resource_path  # noqa: E402
from fit_accuracy import ROOT, _write_section, ensure_models  # noqa: E402
from native_tools import ensure_tool  # noqa: E402


def sample_text(min_chars: int) -> str:
    texts = sorted(resource_path("texts").glob("*.txt"))
    if not texts:
        raise SystemExit("no sample texts in resources/texts")
    body = "\n\n".join(p.read_text(encoding="utf-8") for p in texts)
    while len(body) < min_chars:  # random weights: repeating a text changes nothing it measures
        body += "\n\n" + body
    return body


def _float(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    if m is None:
        raise RuntimeError(f"llama-perplexity output lacks {pattern!r}:\n{text[-3000:]}")
    return float(m.group(1))


def llama_perplexity(args: list[str]) -> str:
    tool = ensure_tool("llama-perplexity")
    env = dict(os.environ, LD_LIBRARY_PATH=str(tool.parent))
    proc = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout + proc.stderr


def native_run(
    ref: Path, var: Path, text_file: Path, n_ctx: int, threads: int, base: Path, chunks: int
) -> dict[str, float]:
    common = [
        "-f",
        str(text_file),
        "-c",
        str(n_ctx),
        "-t",
        str(threads),
        "-tb",
        str(threads),
        "--chunks",
        str(chunks),
    ]
    if not base.exists():
        out = llama_perplexity(["-m", str(ref), *common, "--kl-divergence-base", str(base)])
    out = llama_perplexity(
        ["-m", str(var), *common, "--kl-divergence-base", str(base), "--kl-divergence"]
    )
    # It reports the time of its first pass: n_seq = batch 2048 / n_ctx chunks decoded together.
    per_pass = _float(r"kl_divergence: ([\d.]+) seconds per pass", out)
    tokens_per_pass = min(chunks, max(1, 2048 // n_ctx)) * n_ctx
    return {
        "ppl": _float(r"Mean PPL\(Q\)\s+:\s+([\d.]+)", out),
        "ppl_ref": _float(r"Mean PPL\(base\)\s+:\s+([\d.]+)", out),
        "kld_mean": _float(r"Mean\s+KLD:\s+([-\d.]+)", out),
        "kld_median": _float(r"Median\s+KLD:\s+([-\d.]+)", out),
        "kld_p99": _float(r"99\.0%\s+KLD:\s+([-\d.]+)", out),
        "top1": _float(r"Same top p:\s+([\d.]+)", out) / 100.0,
        "tps": tokens_per_pass / per_pass,
    }


def quantdesk_run(ref: Path, var: Path, text: str, n_ctx: int, chunks: int) -> dict[str, float]:
    spec = CompareSpec(
        (str(ref), str(var)), reference=0, text=text, n_ctx=n_ctx, max_chunks=chunks, top_k=0
    )
    # Sequential: each worker gets every core, like one llama-perplexity process.
    plan = plan_run(spec, available=1)
    result = run_compare(spec, plan=plan, on_event=lambda e: None, cancelled=lambda: False)
    v = result.variants[1]
    if v.failed or v.summary is None:
        raise RuntimeError(f"{v.error_code}: {v.error_detail}")
    s = v.summary
    return {
        "ppl": s.ppl,
        "ppl_ref": s.ppl_reference or float("nan"),
        "kld_mean": s.kld_mean or 0.0,
        "kld_median": s.kld_median or 0.0,
        "kld_p99": s.kld_p99 or 0.0,
        "top1": s.top1_agreement or 0.0,
        "tps": v.eval_tps or 0.0,
        "threads": plan.threads_batch,
    }


def chat_run(paths: list[Path], parallel: bool) -> float:
    sampling = dataclasses.replace(COMPARE_SAMPLING, max_tokens=96)
    spec = CompareSpec(
        tuple(str(p) for p in paths),
        reference=0,
        messages=(ChatMessage("user", "Write a short story about a lighthouse."),),
        sampling=sampling,
        n_ctx=1024,
    )
    plan = plan_run(spec) if parallel else plan_run(spec, available=1)
    assert (plan.mode.value == "parallel") == parallel, plan
    started = time.perf_counter()
    result = run_compare(spec, plan=plan, on_event=lambda e: None, cancelled=lambda: False)
    wall = time.perf_counter() - started
    tokens = 0
    for v in result.variants:
        if v.failed:
            raise RuntimeError(f"{v.error_code}: {v.error_detail}")
        tokens += len(v.tokens) + (v.summary.n_tokens if v.summary else 0)
    return tokens / wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()
    models = ensure_models("realistic", ["F16", args.quant, "Q2_K"])
    ref, var = models["F16"], models[args.quant]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        text_file = Path(tmp) / "text.txt"
        text = sample_text(40_000)
        text_file.write_text(text, encoding="utf-8")
        base = Path(tmp) / "base.kld"
        threads = os.cpu_count() or 2
        natives, ours = [], []
        for r in range(args.rounds):
            order = [0, 1] if r % 2 == 0 else [1, 0]
            for side in order:
                if side == 0:
                    natives.append(
                        native_run(ref, var, text_file, args.ctx, threads, base, args.chunks)
                    )
                else:
                    ours.append(quantdesk_run(ref, var, text, args.ctx, args.chunks))
                print(natives[-1] if side == 0 else ours[-1], flush=True)
        speed = statistics.median(o["tps"] / n["tps"] for o, n in zip(ours, natives, strict=True))
        par, seq = [], []
        pair = [models["Q2_K"], var]
        for r in range(args.rounds):
            for parallel in [True, False] if r % 2 == 0 else [False, True]:
                (par if parallel else seq).append(chat_run(pair, parallel))
        par_ratio = statistics.median(p / s for p, s in zip(par, seq, strict=True))
    load_after = os.getloadavg()
    n, o = natives[0], ours[0]

    def rel(key: str) -> str:
        return f"{100.0 * (o[key] - n[key]) / n[key]:+.3f}%"

    machine = read_machine_info(ROOT)
    text_out = "\n".join(
        [
            f"## Compare quality vs llama-perplexity ({dt.date.today().isoformat()})",
            "",
            f"Machine: {machine.cpu_model}, {machine.physical_cores} cores, "
            f"{machine.total_ram / 2**30:.1f} GiB, {platform.system()}. Load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (other jobs were running).",
            f"Model: random-weight `realistic` shape (0.5B Llama, 32k vocab); F16 reference vs "
            f"{args.quant}; n_ctx {args.ctx}, {args.chunks} chunks of the sample texts in "
            f"resources/texts (repeated to length), {threads} threads for both tools.",
            "",
            "| | llama-perplexity | QuantDesk | difference |",
            "|---|---|---|---|",
            f"| PPL (variant) | {n['ppl']:.4f} | {o['ppl']:.4f} | {rel('ppl')} |",
            f"| PPL (reference) | {n['ppl_ref']:.4f} | {o['ppl_ref']:.4f} | {rel('ppl_ref')} |",
            f"| mean KLD | {n['kld_mean']:.6f} | {o['kld_mean']:.6f} | {rel('kld_mean')} |",
            f"| median KLD | {n['kld_median']:.6f} | {o['kld_median']:.6f} | {rel('kld_median')} |",
            f"| p99 KLD | {n['kld_p99']:.6f} | {o['kld_p99']:.6f} | {rel('kld_p99')} |",
            f"| same top-1 | {100 * n['top1']:.3f}% | {100 * o['top1']:.3f}% | {rel('top1')} |",
            "",
            f"Evaluation speed, QuantDesk / llama-perplexity, median of {args.rounds} alternating "
            f"rounds: **{speed:.3f}x** (target 0.8x; llama-perplexity's figure is decode and "
            "KL work of its first pass, QuantDesk's the worker's whole scoring time). "
            "Per round tokens/s: llama-perplexity "
            + ", ".join(f"{x['tps']:.0f}" for x in natives)
            + "; QuantDesk "
            + ", ".join(f"{x['tps']:.0f}" for x in ours)
            + ".",
            "",
            f"Parallel vs sequential chat comparison (Q2_K and {args.quant}, 96 tokens each, "
            f"then teacher-forced scoring), aggregate tokens/s, median ratio of {args.rounds} "
            f"alternating rounds: **{par_ratio:.3f}x** (target 0.9x). Parallel "
            + ", ".join(f"{x:.1f}" for x in par)
            + "; sequential "
            + ", ".join(f"{x:.1f}" for x in seq)
            + ".",
            "",
        ]
    )
    print(text_out)
    _write_section(args.results, "## Compare quality vs llama-perplexity", text_out)
    return 0


if __name__ == "__main__":
    os.environ.pop("OMP_WAIT_POLICY", None)  # as the app leaves it: OpenMP's own wait policy
    sys.exit(main())
