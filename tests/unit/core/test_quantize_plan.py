"""Quantize planning without llama.cpp: size and time estimates, checks, messages, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import hardware
from desktop_app.core.gguf_file import read_gguf_header
from desktop_app.core.provenance import read_sidecar, sidecar_path, write_sidecar
from desktop_app.core.quant_types import file_type_by_label
from desktop_app.core.quantize_errors import (
    DestinationError,
    NeedsImatrixError,
    NotEnoughDiskError,
    UnknownFileTypeError,
    UnsupportedTargetError,
    WorkerCrashedError,
)
from desktop_app.core.quantize_plan import (
    IO_SECONDS_PER_GPARAM,
    MEASURED_THREADS,
    STARTUP_SECONDS,
    estimate_output_bytes,
    estimate_seconds,
    fallback_tensor_count,
    plan_quantize,
    quantized_source_type,
)
from desktop_app.core.synthetic_model import shape_with, write_model
from desktop_app.messages import describe_error


@pytest.fixture(scope="module")
def f16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("plan") / "tiny-F16.gguf", "tiny")


def label(name: str):  # type: ignore[no-untyped-def]
    ft = file_type_by_label(name)
    assert ft is not None
    return ft


def test_size_estimate_is_per_tensor(f16: Path) -> None:
    header = read_gguf_header(f16)
    # Float targets are exact for matrices; vectors are copied as they are (F32 here).
    f32 = estimate_output_bytes(header, label("F32"))
    vectors = sum(t.n_bytes for t in header.tensors if len(t.shape) == 1)
    matrices = sum(t.n_elements for t in header.tensors if len(t.shape) >= 2)
    assert f32 == header.data_offset + vectors + matrices * 4
    sizes = [estimate_output_bytes(header, label(x)) for x in ("Q8_0", "Q4_K_M", "Q2_K")]
    assert sizes == sorted(sizes, reverse=True)
    assert fallback_tensor_count(header, label("Q4_K_M")) == 0


def test_size_estimate_follows_llama_cpp_fallbacks(tmp_path: Path) -> None:
    shape = shape_with("tiny", n_embd=384, n_head=6, n_head_kv=2, n_ff=768)
    header = read_gguf_header(write_model(tmp_path / "odd.gguf", shape))
    q4 = label("Q4_K_M")
    assert fallback_tensor_count(header, q4) > 0
    assert fallback_tensor_count(header, label("Q8_0")) == 0  # 32-blocks fit any row
    # Falling back to Q5_0 (5.5 bpw) makes the file bigger than the nominal 4.89 bpw.
    matrices = sum(t.n_elements for t in header.tensors if len(t.shape) >= 2)
    assert estimate_output_bytes(header, q4) > header.data_offset + matrices * 4.89 / 8


def test_time_estimate_scales_with_threads_and_type() -> None:
    q8, q4 = label("Q8_0"), label("Q4_K_M")
    one = estimate_seconds(10**9, q4, threads=1)
    two = estimate_seconds(10**9, q4, threads=MEASURED_THREADS)
    # Only the compute part scales with threads; reading and writing do not.
    assert one - two == pytest.approx(two - STARTUP_SECONDS - IO_SECONDS_PER_GPARAM)
    assert two == pytest.approx(STARTUP_SECONDS + 30.6 + IO_SECONDS_PER_GPARAM)
    assert estimate_seconds(10**9, q8, 2) < two  # legacy types are quicker than K-quants


def test_quantized_source_detection(tmp_path: Path, f16: Path) -> None:
    assert quantized_source_type(read_gguf_header(f16)) is None
    f32 = write_model(tmp_path / "f32.gguf", "tiny", dtype="F32")
    assert quantized_source_type(read_gguf_header(f32)) is None


def test_target_checks_come_first(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(UnknownFileTypeError):
        plan_quantize(missing, tmp_path / "o.gguf", "Q9_Z")
    with pytest.raises(UnsupportedTargetError):
        plan_quantize(missing, tmp_path / "o.gguf", "NVFP4")
    with pytest.raises(NeedsImatrixError):
        plan_quantize(missing, tmp_path / "o.gguf", "IQ1_S")


def test_plan(f16: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_quantize(f16, tmp_path / "o.gguf", "q4_k_m", threads=2)
    assert plan.file_type.label == "Q4_K_M" and plan.source_type == "F16"
    assert plan.tensor_count == len(plan.tensor_elements) == 21
    assert plan.disk_needed > plan.output_bytes and not plan.requantize
    monkeypatch.setattr(hardware, "disk_space", lambda _p: (plan.disk_needed - 1, 10**12))
    with pytest.raises(NotEnoughDiskError):
        plan_quantize(f16, tmp_path / "o.gguf", "Q4_K_M")
    monkeypatch.undo()
    (tmp_path / "taken.gguf").write_bytes(b"")
    with pytest.raises(DestinationError, match="destination_exists"):
        plan_quantize(f16, tmp_path / "taken.gguf", "Q4_K_M")
    with pytest.raises(DestinationError, match="destination_is_source"):
        plan_quantize(f16, f16, "Q4_K_M")


def test_messages() -> None:
    assert describe_error(NeedsImatrixError("IQ2_XS")).startswith("IQ2_XS: this type needs")
    assert describe_error(NotEnoughDiskError(3 * 2**30, 2**30, path="/x")) == (
        "/x: not enough free disk space: about 3.0 GiB needed, 1.0 GiB free"
    )
    assert describe_error(WorkerCrashedError(-9, "SIGKILL")).endswith("(SIGKILL)")
    assert describe_error(DestinationError("destination_exists", path="/o.gguf")) == (
        "/o.gguf: a file with this name is already there; nothing was overwritten"
    )


def test_sidecar_round_trip_and_defence(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert read_sidecar(model) is None
    path = write_sidecar(model, {"output": {"file_type": "Q4_K_M"}})
    assert path == sidecar_path(model) == tmp_path / "m.gguf.quantdesk.json"
    record = read_sidecar(model)
    assert record is not None and record["output"] == {"file_type": "Q4_K_M"}
    assert record["format"] == "quantdesk.provenance" and record["version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf", "m.gguf.quantdesk.json"]
    for bad in (b"\xff\xfe", b"[1, 2]", b'{"format": "other"}', b"{" * 100_000):
        path.write_bytes(bad)
        assert read_sidecar(model) is None


def test_bindings_load_without_the_high_level_package() -> None:
    """The quantize worker's fast start: ctypes bindings only, and a later full import works."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from desktop_app.core import llama_backend\n"
        "b = llama_backend.bindings()\n"
        "assert hasattr(b, 'llama_model_quantize')\n"
        "assert 'numpy' not in sys.modules and 'llama_cpp.llama' not in sys.modules\n"
        "import llama_cpp\n"
        "assert llama_cpp.llama_cpp is b and hasattr(llama_cpp, 'Llama')\n"
        "assert llama_backend.llama() is llama_cpp is llama_backend.bindings()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
