"""What the Convert page reads about a source, and the batch order of its stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from convert_fakes import make_model
from desktop_app.core.convert import ConvertError
from desktop_app.core.convert_batch import stage_labels
from desktop_app.core.convert_source import GGUF_FILE, HF_FOLDER, inspect_source, writable_types
from desktop_app.core.fit import Verdict
from desktop_app.core.gguf_file import GGUFError
from desktop_app.core.quant_types import file_type_by_label


def test_a_hugging_face_folder(tmp_path: Path) -> None:
    folder, weights, cfg, _tok = make_model(tmp_path / "Tiny-HF", dtype="BF16")
    source = inspect_source(folder)
    assert source.kind == HF_FOLDER and source.is_folder and source.name == "Tiny-HF"
    assert source.architecture == "llama" and source.hf_architecture == "LlamaForCausalLM"
    assert source.parameter_count == sum(w.size for w in weights.values())
    assert source.dtype == "BF16" and not source.quantized
    assert source.size == (folder / "model.safetensors").stat().st_size
    assert source.facts.n_layer == cfg["num_hidden_layers"]
    assert set(source.estimates) == {ft.label for ft in writable_types()}
    assert source.estimates["Q2_K"] < source.estimates["Q8_0"] < source.estimates["F16"]
    q4 = file_type_by_label("Q4_K_M")
    assert q4 is not None
    assert source.fit(q4, 4096, 64 << 30).verdict is Verdict.FITS
    assert source.fit(q4, 4096, 1 << 20).verdict is Verdict.DOES_NOT_FIT


def test_gguf_files(tiny_models: dict[str, Path]) -> None:
    f16 = inspect_source(tiny_models["F16"])
    assert f16.kind == GGUF_FILE and f16.dtype == "F16" and not f16.quantized
    assert f16.name == "tiny" and f16.size == tiny_models["F16"].stat().st_size
    q4 = inspect_source(tiny_models["Q4_K_M"])
    assert q4.quantized and q4.dtype == "Q4_K_M"


def test_refusals_are_the_converters_and_readers_typed_errors(tmp_path: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "model.bin").write_bytes(b"pickle")
    with pytest.raises(ConvertError) as exc:
        inspect_source(folder)
    assert exc.value.code == "pickle_refused"
    bad = tmp_path / "x.gguf"
    bad.write_text("not a model")
    with pytest.raises(GGUFError):
        inspect_source(bad)


def test_stage_order() -> None:
    assert stage_labels(["Q8_0", "Q4_K_M", "Q8_0"], False) == ("Q8_0", "Q4_K_M")
    assert stage_labels(["Q8_0", "F16"], True) == ("F16", "Q8_0")
    assert stage_labels(["Q2_K"], True) == ("F16", "Q2_K")
