"""QuantizeJob and LadderJob with real worker processes on locally made models.

Faults are made real: garbage and truncated files, a worker that aborts (test hook), a source
changed mid-run, a full disk (disk_space patched), a slow worker cancelled half-way. After every
failure the destination folder holds nothing new: no output, no temp file, no sidecar.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest

from desktop_app.core import hardware
from desktop_app.core.convert import ConvertError
from desktop_app.core.errors import FileAccessError, QuantizeError
from desktop_app.core.gguf_file import GGUFError
from desktop_app.core.ladder import (
    DEFAULT_LADDER,
    LadderFinished,
    LadderJob,
    LadderProgress,
    LadderStepFinished,
)
from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.provenance import read_sidecar, sidecar_path
from desktop_app.core.quant_types import FILE_TYPES
from desktop_app.core.quantize_errors import (
    FALLBACK_WARNING,
    REQUANTIZE_WARNING,
    DestinationError,
    ImatrixError,
    NeedsImatrixError,
    NotEnoughDiskError,
    QuantizeCancelledError,
    RequantizeRefusedError,
    SourceChangedError,
    WorkerCrashedError,
)
from desktop_app.core.quantize_job import (
    QuantizeEvent,
    QuantizeFinished,
    QuantizeJob,
    QuantizeProgress,
)
from desktop_app.core.quantize_plan import supported_file_types
from desktop_app.core.quantize_worker import TEST_HOOK_ENV, TEST_HOOKS_ENV
from desktop_app.core.synthetic_model import shape_with, write_model

pytestmark = pytest.mark.integration

TIMEOUT = 120


@pytest.fixture(scope="module")
def small_f16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model big enough (about 40 MB) that cancelling half-way is possible."""
    return write_model(tmp_path_factory.mktemp("small") / "small-F16.gguf", "small")


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def hook(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    """Worker test hook; the spawned worker inherits the environment."""
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    monkeypatch.setenv(TEST_HOOK_ENV, spec)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class Recorder:
    def __init__(self) -> None:
        self.events: list[QuantizeEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: QuantizeEvent) -> None:
        with self.lock:
            self.events.append(event)

    @property
    def progress(self) -> list[QuantizeProgress]:
        return [e for e in self.events if isinstance(e, QuantizeProgress)]


# --- success ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "tensor_type"), [("Q8_0", "Q8_0"), ("Q4_K_M", "Q4_K"), ("Q2_K", "Q2_K")]
)
def test_quantize_tiny_f16(
    tiny_models: dict[str, Path], out_dir: Path, label: str, tensor_type: str
) -> None:
    source = tiny_models["F16"]
    target = out_dir / f"tiny-{label}.gguf"
    rec = Recorder()
    job = QuantizeJob(source, target, label, threads=2, on_event=rec)
    plan = job.start()
    result = job.wait(TIMEOUT)

    facts = read_model_facts(target)
    assert facts.quant_label == label
    assert tensor_type in facts.tensor_types
    assert result.destination == target and result.output_bytes == target.stat().st_size
    # The estimate is made before anything runs; on this tiny model the embedding and output
    # matrices are a large share, so it is only roughly right.
    assert 0.7 < plan.output_bytes / result.output_bytes < 1.3
    assert plan.seconds > 0 and result.seconds > 0

    n = len(facts.tensors)
    progress = rec.progress
    assert progress[-1].done == progress[-1].total == n
    assert progress[-1].fraction == 1.0
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert isinstance(rec.events[-1], QuantizeFinished) and rec.events[-1].result == result
    assert leftovers(out_dir) == sorted([target.name, sidecar_path(target).name])

    record = read_sidecar(target)
    assert record is not None
    assert record["source"]["path"] == str(source.resolve())
    assert len(record["source"]["header_sha256"]) == 64
    assert record["source"]["file_type"] == "F16"
    assert record["output"] == {
        "file": target.name,
        "file_type": label,
        "size": result.output_bytes,
    }
    assert record["llama_cpp"]["llama_cpp_python"]
    assert record["options"]["allow_requantize"] is False
    assert record["seconds"] > 0 and record["created"]


def test_fallback_types_are_reported(tmp_path: Path, out_dir: Path) -> None:
    # 384 columns are not a multiple of 256: K-quants fall back for most matrices.
    shape = shape_with("tiny", n_embd=384, n_head=6, n_head_kv=2, n_ff=768)
    source = write_model(tmp_path / "odd-F16.gguf", shape)
    job = QuantizeJob(source, out_dir / "odd-Q4_K_M.gguf", "Q4_K_M", threads=2)
    plan = job.prepare()
    assert plan.fallback_tensors > 0 and FALLBACK_WARNING in plan.warnings
    result = job.run(TIMEOUT)
    assert result.fallback_tensors > 0
    assert FALLBACK_WARNING in result.warnings
    assert 0.7 < plan.output_bytes / result.output_bytes < 1.3


def test_every_llama_cpp_file_type_is_listed() -> None:
    import llama_cpp

    rows = supported_file_types()
    constants = {n for n in dir(llama_cpp) if n.startswith("LLAMA_FTYPE_")} - {
        "LLAMA_FTYPE_GUESSED"
    }
    assert {r.constant for r in rows} == constants
    by_label = {r.label: r for r in rows}
    for ft in FILE_TYPES:
        assert by_label[ft.label].needs_imatrix == ft.needs_imatrix
        assert by_label[ft.label].ftype == ft.ftype
    assert not by_label["NVFP4"].writable
    assert by_label["IQ2_XXS"].needs_imatrix and not by_label["Q4_K_M"].needs_imatrix


# --- refused before llama.cpp runs -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty", "missing", "folder"])
def test_invalid_source_refused_before_llama_cpp(
    tiny_models: dict[str, Path], tmp_path: Path, out_dir: Path, kind: str
) -> None:
    source = tmp_path / f"{kind}.gguf"
    if kind == "garbage":
        source.write_bytes(b"GGUF" + os.urandom(4096))
    elif kind == "truncated":
        data = tiny_models["F16"].read_bytes()
        source.write_bytes(data[: len(data) - 1000])
    elif kind == "empty":
        source.write_bytes(b"")
    elif kind == "folder":
        source.mkdir()
    job = QuantizeJob(source, out_dir / "out.gguf", "Q4_K_M")
    with pytest.raises((GGUFError, FileAccessError)) as info:
        job.start()
    assert info.value.path == source.absolute()
    assert job.temp_path is None  # no temp file claimed, no worker spawned
    assert leftovers(out_dir) == []
    with pytest.raises(type(info.value)):
        job.wait(1)


def test_imatrix_type_refused_up_front(tmp_path: Path, out_dir: Path) -> None:
    # The source does not even exist: the refusal comes from the type table alone.
    job = QuantizeJob(tmp_path / "nothing.gguf", out_dir / "out.gguf", "IQ2_XXS")
    with pytest.raises(NeedsImatrixError) as info:
        job.start()
    assert info.value.code == "needs_imatrix" and info.value.label == "IQ2_XXS"
    assert job.temp_path is None and leftovers(out_dir) == []


def _write_imatrix(model: Path, path: Path) -> Path:
    """An imatrix file in llama-imatrix's GGUF layout covering every matrix of ``model``."""
    writer = gguf.GGUFWriter(str(path), "imatrix")
    writer.add_string("general.type", "imatrix")
    rng = np.random.default_rng(1)
    for name, _type, _nbytes, n_dims in read_model_facts(model).tensors:
        if n_dims < 2:
            continue
        cols = next(t for t in gguf.GGUFReader(model).tensors if t.name == name).shape[0]
        writer.add_tensor(f"{name}.in_sum2", rng.random((1, int(cols)), dtype=np.float32) * 100)
        writer.add_tensor(f"{name}.counts", np.full((1, 1), 100.0, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_imatrix_type_made_with_an_imatrix(
    tiny_models: dict[str, Path], tmp_path: Path, out_dir: Path
) -> None:
    imatrix = _write_imatrix(tiny_models["F16"], tmp_path / "tiny.imatrix.gguf")
    target = out_dir / "tiny-IQ2_XXS.gguf"
    result = QuantizeJob(tiny_models["F16"], target, "IQ2_XXS", 2, imatrix=imatrix).run(TIMEOUT)
    facts = read_model_facts(target)
    assert "IQ2_XXS" in facts.tensor_types
    record = read_sidecar(result.destination)
    assert record is not None and record["options"]["imatrix"] == str(imatrix.resolve())


def test_bad_imatrix_refused_up_front(
    tiny_models: dict[str, Path], tmp_path: Path, out_dir: Path
) -> None:
    bad = tmp_path / "legacy.dat"
    bad.write_bytes(os.urandom(512))
    with pytest.raises(ImatrixError) as info:
        QuantizeJob(tiny_models["F16"], out_dir / "x.gguf", "IQ2_XXS", imatrix=bad).start()
    assert info.value.imatrix_problem == "not_gguf"
    # A valid GGUF without importance data (a model) is refused too.
    with pytest.raises(ImatrixError, match="no importance data"):
        QuantizeJob(
            tiny_models["F16"], out_dir / "x.gguf", "IQ2_XXS", imatrix=tiny_models["F16"]
        ).start()
    assert leftovers(out_dir) == []


def test_requantize_refused_then_allowed(tiny_models: dict[str, Path], out_dir: Path) -> None:
    target = out_dir / "again-Q2_K.gguf"
    with pytest.raises(RequantizeRefusedError) as info:
        QuantizeJob(tiny_models["Q4_K_M"], target, "Q2_K").start()
    assert info.value.code == "requantize_refused"
    assert info.value.warning == REQUANTIZE_WARNING
    assert info.value.source_type == "Q4_K_M"
    assert leftovers(out_dir) == []

    result = QuantizeJob(tiny_models["Q4_K_M"], target, "Q2_K", allow_requantize=True).run(TIMEOUT)
    assert REQUANTIZE_WARNING in result.warnings
    assert read_model_facts(target).quant_label == "Q2_K"
    record = read_sidecar(target)
    assert record is not None and record["options"]["allow_requantize"] is True
    assert REQUANTIZE_WARNING in record["warnings"]


def test_destination_checks(tiny_models: dict[str, Path], tmp_path: Path, out_dir: Path) -> None:
    existing = out_dir / "taken.gguf"
    existing.write_bytes(b"precious")
    with pytest.raises(DestinationError) as info:
        QuantizeJob(tiny_models["F16"], existing, "Q8_0").start()
    assert info.value.code == "destination_exists"
    assert existing.read_bytes() == b"precious"

    copy = shutil.copy(tiny_models["F16"], out_dir / "self.gguf")
    with pytest.raises(DestinationError) as info:
        QuantizeJob(copy, copy, "Q8_0").start()
    assert info.value.code == "destination_is_source"

    with pytest.raises(DestinationError) as info:
        QuantizeJob(tiny_models["F16"], tmp_path / "no" / "such" / "x.gguf", "Q8_0").start()
    assert info.value.code == "destination_folder_missing"
    assert leftovers(out_dir) == ["self.gguf", "taken.gguf"]


def test_not_enough_disk_refused(
    tiny_models: dict[str, Path], out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardware, "disk_space", lambda _path: (1_000_000, 10**12))
    job = QuantizeJob(tiny_models["F16"], out_dir / "x.gguf", "Q8_0")
    with pytest.raises(NotEnoughDiskError) as info:
        job.start()
    assert info.value.free == 1_000_000
    assert info.value.needed > tiny_models["F16"].stat().st_size // 2  # Q8_0: about half F16
    assert job.temp_path is None and leftovers(out_dir) == []


# --- faults while running ---------------------------------------------------------------------


@pytest.mark.parametrize("at_tensor", [0, 3])
def test_worker_crash_is_typed_and_cleaned_up(
    tiny_models: dict[str, Path], out_dir: Path, monkeypatch: pytest.MonkeyPatch, at_tensor: int
) -> None:
    hook(monkeypatch, f"abort:{at_tensor}")
    job = QuantizeJob(tiny_models["F16"], out_dir / "x.gguf", "Q8_0")
    job.start()
    assert job.temp_path is not None
    with pytest.raises(WorkerCrashedError) as info:
        job.wait(TIMEOUT)
    assert info.value.code == "worker_crashed"
    assert info.value.signal_name == "SIGABRT" and info.value.exit_code == -6
    assert leftovers(out_dir) == []


def test_cancel_half_way(small_f16: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook(monkeypatch, "slow:0.1")
    rec = Recorder()
    job = QuantizeJob(small_f16, out_dir / "small-Q4_K_M.gguf", "Q4_K_M", on_event=rec)
    job.start()
    deadline = time.monotonic() + TIMEOUT
    while not any(p.done >= 3 for p in rec.progress) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.temp_path is not None and job.temp_path.exists()
    job.cancel()
    assert job.done
    with pytest.raises(QuantizeCancelledError):
        job.wait(1)
    assert rec.progress[-1].done < rec.progress[-1].total
    assert leftovers(out_dir) == []


def test_cancel_before_start(tiny_models: dict[str, Path], out_dir: Path) -> None:
    job = QuantizeJob(tiny_models["F16"], out_dir / "x.gguf", "Q8_0")
    job.cancel()
    with pytest.raises(QuantizeCancelledError):
        job.start()
    assert leftovers(out_dir) == []


def test_source_changed_while_running(
    tiny_models: dict[str, Path], tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(shutil.copy(tiny_models["F16"], tmp_path / "moving-F16.gguf"))
    hook(monkeypatch, "slow:0.05")
    rec = Recorder()
    job = QuantizeJob(source, out_dir / "x.gguf", "Q8_0", on_event=rec)
    job.start()
    while not rec.progress:
        time.sleep(0.01)
    os.utime(source, ns=(time.time_ns(), time.time_ns()))
    with pytest.raises(SourceChangedError):
        job.wait(TIMEOUT)
    assert leftovers(out_dir) == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs mount rights: root on Linux); skipped where that is not possible."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_filling_up_while_writing(
    tiny_models: dict[str, Path], tiny_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check before starting is told there is room; the real disk holds 1 MiB (Q8_0: 1.8).
    monkeypatch.setattr(hardware, "disk_space", lambda _path: (10**12, 10**12))
    job = QuantizeJob(tiny_models["F16"], tiny_disk / "x.gguf", "Q8_0")
    job.start()
    with pytest.raises(NotEnoughDiskError) as info:
        job.wait(TIMEOUT)
    assert info.value.free < 16 * 2**20
    assert leftovers(tiny_disk) == []


def test_llama_cpp_failure_carries_its_reason(tmp_path: Path, out_dir: Path) -> None:
    # Valid GGUF by every structural rule, but not a model llama.cpp knows.
    source = tmp_path / "alien.gguf"
    writer = gguf.GGUFWriter(str(source), "no-such-arch")
    writer.add_tensor("blk.0.weight", np.zeros((32, 256), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    job = QuantizeJob(source, out_dir / "x.gguf", "Q8_0")
    job.start()
    with pytest.raises(QuantizeError) as info:
        job.wait(TIMEOUT)
    assert info.value.code == "quantize_failed"
    assert "architecture" in info.value.reason
    assert leftovers(out_dir) == []


# --- ladder ------------------------------------------------------------------------------------


def test_ladder_makes_a_family_with_provenance(tiny_models: dict[str, Path], out_dir: Path) -> None:
    events: list[object] = []
    labels = ["Q8_0", "Q4_K_M", "Q2_K"]
    job = LadderJob(tiny_models["F16"], out_dir, labels, threads=2, on_event=events.append)
    targets = job.prepare(available_ram=8 * 2**30)
    assert [t.label for t in targets] == labels
    assert all(t.fit is not None and t.fit.verdict == "fits" for t in targets)
    assert [t.destination.name for t in targets] == [f"tiny-{x}.gguf" for x in labels]
    result = job.run(TIMEOUT)

    assert not result.cancelled and not result.failures
    assert [r.destination.name for r in result.outputs] == [f"tiny-{x}.gguf" for x in labels]
    for index, (label, output) in enumerate(zip(labels, result.outputs, strict=True)):
        assert read_model_facts(output.destination).quant_label == label
        record = read_sidecar(output.destination)
        assert record is not None
        assert record["ladder"] == {"id": job.ladder_id, "labels": labels, "index": index}
        assert record["output"]["file_type"] == label
    progress = [e.fraction for e in events if isinstance(e, LadderProgress)]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    assert sum(isinstance(e, LadderStepFinished) for e in events) == 3
    assert isinstance(events[-1], LadderFinished)
    assert len(leftovers(out_dir)) == 6  # three models, three sidecars


def test_ladder_checks_everything_first(
    tiny_models: dict[str, Path], tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_LADDER == ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
    with pytest.raises(RequantizeRefusedError):
        LadderJob(tiny_models["Q8_0"], out_dir).prepare()
    with pytest.raises(NeedsImatrixError):
        LadderJob(tiny_models["F16"], out_dir, ["Q8_0", "IQ1_S"]).prepare()
    with pytest.raises(ConvertError) as info:  # a folder: the converter's checks run first
        LadderJob(tmp_path, out_dir).prepare()
    assert info.value.code == "missing_config"
    (out_dir / "tiny-Q2_K.gguf").write_bytes(b"mine")
    with pytest.raises(DestinationError):
        LadderJob(tiny_models["F16"], out_dir).prepare()
    (out_dir / "tiny-Q2_K.gguf").unlink()
    # Room for any single output but not for all six together.
    monkeypatch.setattr(hardware, "disk_space", lambda _path: (100 * 2**20, 10**12))
    with pytest.raises(NotEnoughDiskError):
        LadderJob(tiny_models["F16"], out_dir).prepare()
    assert leftovers(out_dir) == []


def test_ladder_cancel_stops_it(
    small_f16: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook(monkeypatch, "slow:0.05")
    started_second = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, LadderProgress) and event.step == 1 and event.step_progress.done:
            started_second.set()

    job = LadderJob(small_f16, out_dir, ["Q8_0", "Q4_K_M", "Q2_K"], on_event=on_event)
    job.start()
    assert started_second.wait(TIMEOUT)
    job.cancel()
    result = job.wait(TIMEOUT)
    assert result.cancelled
    assert [r.label for r in [o.plan.file_type for o in result.outputs]] == ["Q8_0"]
    assert leftovers(out_dir) == ["small-Q8_0.gguf", "small-Q8_0.gguf.quantdesk.json"]


@pytest.mark.parametrize("keep_f16", [True, False])
def test_ladder_from_a_hugging_face_folder(tmp_path: Path, out_dir: Path, keep_f16: bool) -> None:
    from convert_fakes import make_model

    folder, _weights, _cfg, _tok = make_model(tmp_path / "Tiny-HF")
    labels = ["F16", "Q8_0", "Q4_K_M"] if keep_f16 else ["Q8_0", "Q4_K_M"]
    events: list[object] = []
    job = LadderJob(folder, out_dir, labels, threads=2, on_event=events.append)
    targets = job.prepare()
    assert [t.destination.name for t in targets] == [f"Tiny-HF-{x}.gguf" for x in labels]
    assert all(t.output_bytes > 0 and t.plan is None for t in targets)
    result = job.run(TIMEOUT)

    assert not result.failures and not result.cancelled
    made = [f"Tiny-HF-{x}.gguf" for x in labels]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [*made, *(n + ".quantdesk.json" for n in made)]
    )  # and no work folder left behind
    assert (result.converted is not None) == keep_f16
    for index, name in enumerate(made):
        assert read_model_facts(out_dir / name).quant_label == labels[index]
        record = read_sidecar(out_dir / name)
        assert record is not None
        assert record["source"]["kind"] == "hf_folder"
        assert record["source"]["path"] == str(folder.resolve())
        assert "model.safetensors" in [f["name"] for f in record["source"]["files"]]
        assert record["ladder"]["index"] == index and record["ladder"]["labels"] == labels
    progress = [e for e in events if isinstance(e, LadderProgress)]
    assert progress[0].label == "convert" and progress[0].steps == len(labels) - keep_f16 + 1
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
