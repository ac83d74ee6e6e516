"""Convert a Hugging Face model folder to a GGUF file (f32, f16, bf16 or q8_0).

``plan_conversion`` validates everything that can be checked without reading tensor data
(config, every safetensors header, tensor names and shapes, tokenizer) and sizes the output;
``convert_hf_to_gguf`` then streams tensor by tensor into a temporary file next to the
destination and renames it when complete. On any failure, cancel or full disk the temporary
file is removed and nothing appears at the destination; an existing output is never replaced
unless ``overwrite`` is set. A source file whose size or mtime changed during the run fails
the conversion (``source_changed``).

Runs in the calling thread; the app calls it from a worker process (a truncated source file
can raise SIGBUS in a memory map, which only a process boundary contains).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import gguf
import numpy as np

from desktop_app.core.atomic import fsync_folder, place_no_overwrite
from desktop_app.core.convert.arch_gemma import add_gemma_metadata
from desktop_app.core.convert.arch_phi3 import add_phi3_metadata
from desktop_app.core.convert.errors import ConvertError, os_error
from desktop_app.core.convert.hf_model import HFModelFolder, load_hf_folder
from desktop_app.core.convert.safetensors_reader import WeightSet, load_weight_set
from desktop_app.core.convert.tensors import OUTTYPES, TensorJob, plan_jobs, write_job
from desktop_app.core.convert.tokenizer import Vocab, load_vocab, write_vocab

log = logging.getLogger(__name__)

OUT_TYPES: tuple[str, ...] = tuple(OUTTYPES)
_SPACE_MARGIN = 16 * 1024 * 1024
Cancel = threading.Event | Callable[[], bool] | None
_O_BINARY = getattr(os, "O_BINARY", 0)
_NP_FLOAT32 = np.dtype(np.float32)  # GGUFWriter wants a dtype; raw_dtype decides


@dataclass(frozen=True)
class ConvertProgress:
    tensor_index: int  # 1-based index of the tensor being written
    tensor_count: int
    tensor_name: str
    bytes_done: int  # tensor bytes written so far
    bytes_total: int


@dataclass(frozen=True)
class ConversionPlan:
    model: HFModelFolder
    weights: WeightSet
    vocab: Vocab
    outtype: str
    jobs: tuple[TensorJob, ...]
    warnings: tuple[str, ...]

    @property
    def architecture(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.model.config.spec.gguf_arch]

    @property
    def tensor_bytes(self) -> int:
        return sum(j.nbytes for j in self.jobs)

    @property
    def estimated_size(self) -> int:
        """Output size in bytes; the header part (vocabulary) is an upper estimate."""
        vocab_bytes = sum(len(t.encode("utf-8")) + 16 for t in self.vocab.tokens)
        merges = sum(len(m) + 8 for m in self.vocab.special.merges)
        return self.tensor_bytes + 32 * len(self.jobs) + vocab_bytes + merges + 1024 * 1024

    @property
    def parameter_count(self) -> int:
        return sum(j.source.n_elements for j in self.jobs if j.source is not None)


def plan_conversion(src_dir: str | os.PathLike[str], outtype: str = "f16") -> ConversionPlan:
    """Validate the folder and plan the output; reads headers only, never tensor data."""
    if outtype not in OUTTYPES:
        raise ConvertError("bad_outtype", str(outtype)[:20], supported=OUT_TYPES)
    model = load_hf_folder(Path(src_dir))
    weights = load_weight_set(model.path, list(model.weight_files))
    jobs, fell_back = plan_jobs(model.config, weights, outtype)
    vocab = load_vocab(model)
    warnings = [*model.config.warnings, *vocab.warnings]
    if fell_back:
        warnings.append("q8_0_fallback_f16")
    return ConversionPlan(model, weights, vocab, outtype, tuple(jobs), tuple(warnings))


def convert_hf_to_gguf(
    src_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    outtype: str = "f16",
    on_progress: Callable[[ConvertProgress], None] | None = None,
    cancel: Cancel = None,
    *,
    overwrite: bool = False,
    on_plan: Callable[[ConversionPlan], None] | None = None,
) -> Path:
    """Convert ``src_dir`` into the GGUF file ``out_path``; returns ``out_path``.

    ``on_progress`` runs after every chunk written (in this thread; throttle in the UI);
    ``cancel`` (an Event or a callable) is checked as often. ``on_plan`` receives the
    validated plan (size, warnings) before anything is written.
    """
    out = Path(out_path)
    if out.is_dir() or (out.exists() and not overwrite):
        raise ConvertError("exists", path=out)
    snapshot = _stat_folder(Path(src_dir))  # before any header is read
    plan = plan_conversion(src_dir, outtype)
    if out.resolve() in {p.resolve() for p in plan.model.source_files()}:
        raise ConvertError("exists", "the output would replace a source file", path=out)
    for code in plan.warnings:
        log.warning("converting %s: %s", plan.model.path, code)
    if on_plan is not None:
        on_plan(plan)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _check_space(out.parent, plan.estimated_size)
        tmp = _create_temp(out)
    except OSError as exc:
        raise os_error(exc, out.parent) from exc
    try:
        _write_file(plan, tmp, on_progress, cancel)
        changed = tuple(
            str(p) for p in plan.model.source_files() if snapshot.get(p.name) != _stat(p)
        )
        if changed:
            raise ConvertError("source_changed", path=plan.model.path, files=changed)
        _publish(tmp, out, overwrite)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise os_error(exc, out) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _write_file(
    plan: ConversionPlan,
    tmp: Path,
    on_progress: Callable[[ConvertProgress], None] | None,
    cancel: Cancel,
) -> None:
    writer = gguf.GGUFWriter(tmp, plan.architecture)
    try:
        _add_metadata(writer, plan)
        for job in plan.jobs:
            writer.add_tensor_info(
                job.name, job.shape, _NP_FLOAT32, job.nbytes, raw_dtype=job.qtype
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        assert writer.fout is not None and len(writer.fout) == 1
        sink = OutputSink(writer.fout[0], writer.data_alignment)
        _write_tensors(plan, sink, on_progress, cancel)
        writer.flush()
        os.fsync(writer.fout[0].fileno())
    finally:
        writer.close()


class OutputSink:
    """Where tensor data goes: the temporary file, with GGUF's alignment padding."""

    def __init__(self, fp: BinaryIO, alignment: int) -> None:
        self.fp = fp
        self.alignment = alignment

    def write(self, data: memoryview | bytes) -> None:
        self.fp.write(data)

    def pad(self) -> None:
        extra = self.fp.tell() % self.alignment
        if extra:
            self.write(bytes(self.alignment - extra))


def _write_tensors(
    plan: ConversionPlan,
    sink: OutputSink,
    on_progress: Callable[[ConvertProgress], None] | None,
    cancel: Cancel,
) -> None:
    total = plan.tensor_bytes
    done = 0
    count = len(plan.jobs)
    for index, job in enumerate(plan.jobs, start=1):

        def after_chunk(n: int, index: int = index, job: TensorJob = job) -> None:
            nonlocal done
            done += n
            if on_progress is not None:
                on_progress(ConvertProgress(index, count, job.name, done, total))
            if _cancelled(cancel):
                raise ConvertError("cancelled")

        if _cancelled(cancel):
            raise ConvertError("cancelled")
        sink.pad()
        write_job(job, sink.write, after_chunk)
    sink.pad()


def _cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _add_metadata(writer: gguf.GGUFWriter, plan: ConversionPlan) -> None:
    cfg = plan.model.config
    writer.add_type("model")
    writer.add_name(plan.model.name)
    writer.add_context_length(cfg.context_length)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.n_layer)
    writer.add_feed_forward_length(cfg.n_ff)
    writer.add_head_count(cfg.n_head)
    writer.add_head_count_kv(cfg.n_head_kv)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_dimension_count(cfg.rope_dims)
    if cfg.head_dim_explicit or cfg.head_dim * cfg.n_head != cfg.hidden_size:
        writer.add_key_length(cfg.head_dim)
        writer.add_value_length(cfg.head_dim)
    writer.add_vocab_size(cfg.vocab_size)
    if cfg.rope_scaling is not None and cfg.rope_scaling.kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(cfg.rope_scaling.factor)
    if cfg.gemma is not None:
        add_gemma_metadata(writer, cfg.gemma)
    if cfg.phi3 is not None:
        add_phi3_metadata(writer, cfg.phi3)
    writer.add_file_type(OUTTYPES[plan.outtype][1])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_sampling(writer, plan.model.generation_config)
    write_vocab(writer, plan.vocab)


def _add_sampling(writer: gguf.GGUFWriter, gen: dict[str, object]) -> None:
    """generation_config.json's sampling defaults as general.sampling.* keys."""
    temp, top_k, top_p = gen.get("temperature"), gen.get("top_k"), gen.get("top_p")
    if isinstance(temp, int | float) and not isinstance(temp, bool) and 0 <= temp <= 100:
        writer.add_sampling_temp(float(temp))
    if isinstance(top_k, int) and not isinstance(top_k, bool) and 0 <= top_k < 1 << 31:
        writer.add_sampling_top_k(top_k)
    if isinstance(top_p, int | float) and not isinstance(top_p, bool) and 0 <= top_p <= 1:
        writer.add_sampling_top_p(float(top_p))


def _create_temp(out: Path) -> Path:
    """A new, empty, uniquely named file next to ``out`` (mode 0666 minus the umask)."""
    for _ in range(100):
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(out.parent))


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + _SPACE_MARGIN:
        raise ConvertError("disk_full", path=folder, needed=needed, available=free)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _stat_folder(folder: Path) -> dict[str, tuple[int, int] | None]:
    """Size and mtime of every file in the folder (symbolic links followed), by name."""
    try:
        return {p.name: _stat(p) for p in folder.iterdir()}
    except OSError:
        return {}  # load_hf_folder reports the folder problem


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished file into place: atomically, and without clobbering unless asked."""
    if overwrite:
        os.replace(tmp, out)
    else:
        try:
            place_no_overwrite(tmp, out)
        except FileExistsError as exc:
            raise ConvertError("exists", path=out) from exc
    fsync_folder(out.parent)
