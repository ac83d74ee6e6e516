"""How fast is HF -> GGUF conversion, and how much memory does it take?

The script writes a realistic-shape Hugging Face folder once (cached in benchmarks/.cache):
the 0.5B Llama shape of ../shared/reference/performance.md (hidden 1024, 24 layers, 16 heads,
4 KV heads, FFN 5120, vocab 32000), random weights in BF16 safetensors split into two shards
with an index, and a 32000-piece SentencePiece tokenizer.model. Tensors are generated and
written one at a time, so generating never holds more than one tensor either.

Each conversion runs in a fresh Python process (the one the app would use), which reports its
wall time and peak RSS (``VmHWM``: anonymous memory plus the mapped pages of the tensor being
read; not ``ru_maxrss``, which Linux carries over ``exec`` from the forking parent). The source
files were just written, so they are in the page cache: this measures the converter, not the
disk. Command: ``python benchmarks/convert_speed.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

from desktop_app.core.hardware import read_machine_info  # noqa: E402
from desktop_app.core.synthetic_model import SHAPES, build_vocab  # noqa: E402
from fit_accuracy import _write_section  # noqa: E402

WORK = ROOT / "benchmarks" / ".cache" / "convert-speed"
SOURCE = WORK / "hf-llama-0.5b-bf16"
SHAPE = SHAPES["realistic"]

_CHILD = """
import json, sys, time
from pathlib import Path
from desktop_app.core.convert import convert_hf_to_gguf
def status_kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
before = status_kib("VmRSS")
last = [0.0]
def on_progress(_p):
    last[0] = time.perf_counter()
start = time.perf_counter()
out = convert_hf_to_gguf(sys.argv[1], sys.argv[2], sys.argv[3], on_progress, overwrite=True)
end = time.perf_counter()
seconds = end - start
sync_seconds = end - last[0]  # flush + fsync + rename after the last tensor byte
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent.
peak = status_kib("VmHWM")
print(json.dumps({"seconds": seconds, "sync_seconds": sync_seconds, "peak_kib": peak,
                  "baseline_kib": before,
                  "out_bytes": Path(out).stat().st_size}))
"""


def _hf_config() -> dict[str, object]:
    s = SHAPE
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": s.n_embd,
        "num_hidden_layers": s.n_layer,
        "num_attention_heads": s.n_head,
        "num_key_value_heads": s.n_head_kv,
        "intermediate_size": s.n_ff,
        "vocab_size": s.n_vocab,
        "max_position_embeddings": s.n_ctx_train,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }


def _hf_tensors() -> list[tuple[str, tuple[int, ...]]]:
    s, hd = SHAPE, SHAPE.n_embd // SHAPE.n_head
    plan: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (s.n_vocab, s.n_embd))]
    for i in range(s.n_layer):
        p = f"model.layers.{i}."
        plan += [
            (p + "input_layernorm.weight", (s.n_embd,)),
            (p + "self_attn.q_proj.weight", (s.n_head * hd, s.n_embd)),
            (p + "self_attn.k_proj.weight", (s.n_head_kv * hd, s.n_embd)),
            (p + "self_attn.v_proj.weight", (s.n_head_kv * hd, s.n_embd)),
            (p + "self_attn.o_proj.weight", (s.n_embd, s.n_head * hd)),
            (p + "post_attention_layernorm.weight", (s.n_embd,)),
            (p + "mlp.gate_proj.weight", (s.n_ff, s.n_embd)),
            (p + "mlp.up_proj.weight", (s.n_ff, s.n_embd)),
            (p + "mlp.down_proj.weight", (s.n_embd, s.n_ff)),
        ]
    plan += [("model.norm.weight", (s.n_embd,)), ("lm_head.weight", (s.n_vocab, s.n_embd))]
    return plan


def _write_shard(path: Path, tensors: list[tuple[str, tuple[int, ...]]], seed: int) -> None:
    """A BF16 safetensors file written tensor by tensor (header first: offsets are known)."""
    header: dict[str, object] = {}
    offset = 0
    for name, shape in tensors:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {
            "dtype": "BF16",
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(text)) + text)
        for _name, shape in tensors:
            if len(shape) == 1:
                values = np.ones(shape, dtype=np.float32)
            else:
                values = rng.standard_normal(shape, dtype=np.float32) / np.float32(
                    np.sqrt(shape[1])
                )
            (values.view(np.uint32) >> 16).astype(np.uint16).tofile(fp)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def _write_tokenizer(folder: Path) -> None:
    tokens, scores, types = build_vocab(SHAPE.n_vocab)
    model = bytearray()
    for piece, score, ptype in zip(tokens, scores, types, strict=True):
        body = _field(1, 2, piece.encode()) + _field(2, 5, struct.pack("<f", score))
        model += _field(1, 2, body + _field(3, 0, _varint(ptype)))
    model += _field(2, 2, _field(3, 0, _varint(2)) + _field(35, 0, _varint(1)))  # BPE, bytes
    (folder / "tokenizer.model").write_bytes(bytes(model))
    config = {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


BIG_VOCAB = WORK / "hf-qwen2-tiny-151k-vocab"


def make_big_vocab_source(force: bool) -> Path:
    """A 1-layer Qwen2 (hidden 64) with a 151,936-entry byte-level BPE vocabulary, as Qwen2.5
    has: shows what the vocabulary itself costs in memory (its tokens are random strings)."""
    if (BIG_VOCAB / "done").exists() and not force:
        return BIG_VOCAB
    shutil.rmtree(BIG_VOCAB, ignore_errors=True)
    BIG_VOCAB.mkdir(parents=True)
    n_vocab, hidden = 151_936, 64
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_size": hidden,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": n_vocab,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    }
    (BIG_VOCAB / "config.json").write_text(json.dumps(config))
    byte_chars = [chr(c) for c in range(0x21, 0x7F)] + [chr(0x100 + i) for i in range(162)]
    vocab = {c: i for i, c in enumerate(byte_chars[:256])}
    vocab.setdefault("\u010a", len(vocab))  # the newline symbol
    rng = np.random.default_rng(0)
    while len(vocab) < 151_643:
        token = "".join(byte_chars[i] for i in rng.integers(0, 94, int(rng.integers(2, 10))))
        vocab.setdefault(token, len(vocab))
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    data = {
        "added_tokens": [
            {"id": len(vocab) + i, "content": t, "special": True} for i, t in enumerate(specials)
        ],
        "pre_tokenizer": {"type": "ByteLevel", "use_regex": True},
        "model": {
            "type": "BPE",
            "vocab": vocab,
            "merges": [f"{t[:1]} {t[1:]}" for t in list(vocab)[257:]],
        },
    }
    (BIG_VOCAB / "tokenizer.json").write_text(json.dumps(data))
    p = "model.layers.0."
    plan = [
        ("model.embed_tokens.weight", (n_vocab, hidden)),
        (p + "input_layernorm.weight", (hidden,)),
        (p + "self_attn.q_proj.weight", (hidden, hidden)),
        (p + "self_attn.q_proj.bias", (hidden,)),
        (p + "self_attn.k_proj.weight", (32, hidden)),
        (p + "self_attn.k_proj.bias", (32,)),
        (p + "self_attn.v_proj.weight", (32, hidden)),
        (p + "self_attn.v_proj.bias", (32,)),
        (p + "self_attn.o_proj.weight", (hidden, hidden)),
        (p + "post_attention_layernorm.weight", (hidden,)),
        (p + "mlp.gate_proj.weight", (128, hidden)),
        (p + "mlp.up_proj.weight", (128, hidden)),
        (p + "mlp.down_proj.weight", (hidden, 128)),
    ]
    plan.append(("model.norm.weight", (hidden,)))
    _write_shard(BIG_VOCAB / "model.safetensors", plan, seed=2)
    (BIG_VOCAB / "done").write_text("ok")
    return BIG_VOCAB


def make_source(force: bool) -> Path:
    if (SOURCE / "done").exists() and not force:
        return SOURCE
    shutil.rmtree(SOURCE, ignore_errors=True)
    SOURCE.mkdir(parents=True)
    (SOURCE / "config.json").write_text(json.dumps(_hf_config(), indent=2))
    _write_tokenizer(SOURCE)
    plan = _hf_tensors()
    half = len(plan) // 2
    shards = {
        "model-00001-of-00002.safetensors": plan[:half],
        "model-00002-of-00002.safetensors": plan[half:],
    }
    weight_map = {}
    for i, (name, tensors) in enumerate(shards.items()):
        _write_shard(SOURCE / name, tensors, seed=i)
        weight_map.update({t: name for t, _s in tensors})
    index = {"metadata": {}, "weight_map": weight_map}
    (SOURCE / "model.safetensors.index.json").write_text(json.dumps(index))
    (SOURCE / "done").write_text("ok")
    return SOURCE


def convert_once(outtype: str, source: Path = SOURCE) -> dict[str, float]:
    out = WORK / f"out-{outtype}.gguf"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(out), outtype],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    out.unlink()
    return result


def convert_median(outtype: str, runs: int) -> dict[str, float]:
    """The run with the median wall time (peak RSS is the largest seen)."""
    results = sorted((convert_once(outtype) for _ in range(runs)), key=lambda r: r["seconds"])
    median = dict(results[len(results) // 2])
    median["peak_kib"] = max(r["peak_kib"] for r in results)
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outtypes", default="f16,bf16,q8_0")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="runs per outtype (median)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    start = time.perf_counter()
    make_source(args.regenerate)
    print(f"source ready in {time.perf_counter() - start:.1f} s", flush=True)
    src_bytes = sum(p.stat().st_size for p in SOURCE.glob("*.safetensors"))
    params = sum(int(np.prod(s)) for _n, s in _hf_tensors())
    largest = max(int(np.prod(s)) for _n, s in _hf_tensors())
    rows = []
    for outtype in args.outtypes.split(","):
        r = convert_median(outtype, args.runs)
        mb_in = src_bytes / 2**20 / r["seconds"]
        mb_out = r["out_bytes"] / 2**20 / r["seconds"]
        rows.append((outtype, r, mb_in, mb_out))
        print(
            f"{outtype:>5}: {r['seconds']:6.1f} s (sync {r['sync_seconds']:.1f}), "
            f"in {mb_in:6.0f} MiB/s, "
            f"out {mb_out:6.0f} MiB/s, peak RSS {r['peak_kib'] / 1024:6.0f} MiB "
            f"(after imports {r['baseline_kib'] / 1024:.0f})",
            flush=True,
        )
    big = convert_once("f16", make_big_vocab_source(args.regenerate))
    print(f"151k vocabulary: peak RSS {big['peak_kib'] / 1024:.0f} MiB", flush=True)
    if args.no_write:
        return 0
    machine = read_machine_info(WORK)
    lines = [
        f"## HF to GGUF conversion speed and memory ({dt.date.today().isoformat()})",
        "",
        f"Machine: {machine.cpu_model}, {machine.physical_cores} cores, "
        f"{machine.total_ram / 2**30:.1f} GiB RAM, {platform.system()} {platform.release()}.",
        f"Source: random-weight LlamaForCausalLM of the `realistic` shape ({params / 1e6:.0f}M "
        f"parameters), BF16 safetensors in 2 shards + index, {src_bytes / 2**20:.0f} MiB; "
        f"32000-piece tokenizer.model. Largest tensor: {largest / 1e6:.1f}M elements "
        f"({largest * 2 / 2**20:.0f} MiB as BF16, {largest * 4 / 2**20:.0f} MiB as F32). "
        f"One fresh process per conversion, median of {args.runs} runs (peak RSS: the largest); "
        "source in the page cache. The time includes flushing and fsync-ing the output before "
        "the rename (column sync); the machine is shared, so times vary by about ±30%. "
        "Command: `python benchmarks/convert_speed.py`.",
        "",
        "| outtype | seconds | of which sync | source MiB/s | output MiB | output MiB/s | "
        "peak RSS MiB | RSS after imports MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for outtype, r, mb_in, mb_out in rows:
        lines.append(
            f"| {outtype} | {r['seconds']:.1f} | {r['sync_seconds']:.1f} | {mb_in:.0f} | "
            f"{r['out_bytes'] / 2**20:.0f} | "
            f"{mb_out:.0f} | {r['peak_kib'] / 1024:.0f} | {r['baseline_kib'] / 1024:.0f} |"
        )
    lines += [
        "",
        "Peak RSS is the interpreter and libraries plus one 16 MiB float32 working chunk and "
        "its converted copies; it grows with neither the model "
        f"({src_bytes / 2**20:.0f} MiB here) nor its largest tensor: each chunk of rows is "
        "memory-mapped and unmapped on its own (q/k matrices, reordered for llama.cpp's rope, "
        "are mapped whole), and the output is streamed to a temporary file. BF16 -> BF16 is a "
        "byte copy; F16 is numpy's float32 -> float16 cast; Q8_0 is gguf-py's numpy quantizer.",
        "",
        "The vocabulary is held as Python objects while the header is written: a 1-layer "
        "Qwen2 (hidden 64) with a 151,936-entry byte-level BPE vocabulary and 151k merges, like "
        f"Qwen2.5's, peaks at {big['peak_kib'] / 1024:.0f} MiB (f16).",
        "",
    ]
    _write_section(Path(args.results), "## HF to GGUF conversion", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
