"""convert_hf_to_gguf: tensors and shapes, progress, cancel, and every output fault.

After any failure the output folder must hold exactly what it held before: no temporary file,
nothing at the destination.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from convert_fakes import make_model, write_safetensors
from desktop_app.core.convert import ConvertError, ConvertProgress, convert_hf_to_gguf
from desktop_app.core.convert import converter as converter_mod
from desktop_app.core.convert import tensors as tensors_mod
from desktop_app.core.convert.tensors import rope_row_order


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder, *_ = make_model(tmp_path / "hf", "LlamaForCausalLM", "spm")
    return folder


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _fails(model: Path, out: Path, code: str, **kw: Any) -> ConvertError:
    before = sorted(p.name for p in out.parent.iterdir())
    with pytest.raises(ConvertError) as exc:
        convert_hf_to_gguf(model, out, kw.pop("outtype", "f16"), **kw)
    assert exc.value.code == code, exc.value.detail
    assert sorted(p.name for p in out.parent.iterdir()) == before  # no temp, no output
    return exc.value


def test_a_conversion_writes_one_complete_file(model: Path, out_dir: Path) -> None:
    events: list[ConvertProgress] = []
    plans: list[Any] = []
    out = convert_hf_to_gguf(model, out_dir / "m.gguf", "q8_0", events.append, on_plan=plans.append)
    assert [p.name for p in out_dir.iterdir()] == ["m.gguf"]
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    reader = gguf.GGUFReader(out)
    plan = plans[0]
    assert len(reader.tensors) == len(plan.jobs) == 2 + 2 * 9 + 1
    assert out.stat().st_size <= plan.estimated_size
    assert events[-1].bytes_done == events[-1].bytes_total == plan.tensor_bytes
    assert [e.bytes_done for e in events] == sorted(e.bytes_done for e in events)
    assert events[-1].tensor_index == events[-1].tensor_count == len(plan.jobs)
    assert plan.parameter_count > 0 and plan.architecture == "llama"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_llama_q_and_k_rows_are_permuted_for_llama_cpp(tmp_path: Path, out_dir: Path) -> None:
    folder, weights, cfg, _t = make_model(tmp_path / "hf", "LlamaForCausalLM", "spm")
    out = convert_hf_to_gguf(folder, out_dir / "m.gguf", "f32")
    tensors = {t.name: t for t in gguf.GGUFReader(out).tensors}
    q = weights["model.layers.0.self_attn.q_proj.weight"]
    k = weights["model.layers.1.self_attn.k_proj.weight"]
    got_q = np.asarray(tensors["blk.0.attn_q.weight"].data).reshape(q.shape)
    got_k = np.asarray(tensors["blk.1.attn_k.weight"].data).reshape(k.shape)
    np.testing.assert_array_equal(got_q, q[rope_row_order(q.shape[0], cfg["num_attention_heads"])])
    np.testing.assert_array_equal(got_k, k[rope_row_order(k.shape[0], cfg["num_key_value_heads"])])
    # the official converter's reshape/swapaxes, written out by hand for one head of 4 rows
    assert rope_row_order(8, 2).tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_tied_embeddings_write_no_output_tensor(tmp_path: Path, out_dir: Path) -> None:
    for stored in ("both", "embed", "lm_head"):
        folder, weights, *_ = make_model(
            tmp_path / stored, "Qwen2ForCausalLM", "qwen2", tie_word_embeddings=True, stored=stored
        )
        out = convert_hf_to_gguf(folder, out_dir / f"{stored}.gguf", "f32")
        tensors = {t.name: t for t in gguf.GGUFReader(out).tensors}
        assert "output.weight" not in tensors
        embed = weights.get("model.embed_tokens.weight", weights.get("lm_head.weight"))
        got = np.asarray(tensors["token_embd.weight"].data).reshape(embed.shape)
        np.testing.assert_array_equal(got, embed)


def test_q8_0_falls_back_to_f16_for_rows_not_a_multiple_of_32(
    tmp_path: Path, out_dir: Path
) -> None:
    folder, *_ = make_model(tmp_path / "hf", "LlamaForCausalLM", "spm", intermediate_size=80)
    plans: list[Any] = []
    out = convert_hf_to_gguf(folder, out_dir / "m.gguf", "q8_0", on_plan=plans.append)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}
    assert types["blk.0.ffn_down.weight"] == "F16"  # rows of 80
    assert types["blk.0.ffn_up.weight"] == "Q8_0"  # rows of 64
    assert "q8_0_fallback_f16" in plans[0].warnings


def _rewrite(folder: Path, change: Any) -> None:
    """Rewrite model.safetensors after ``change(weights)``."""
    from desktop_app.core.convert.safetensors_reader import iter_row_chunks, read_safetensors_header

    st = read_safetensors_header(folder / "model.safetensors")
    weights = {
        n: np.concatenate(list(iter_row_chunks(e, 1 << 20))).reshape(e.shape)
        for n, e in st.tensors.items()
    }
    change(weights)
    write_safetensors(folder / "model.safetensors", weights)


def test_shape_mismatch(model: Path, out_dir: Path) -> None:
    name = "model.layers.1.mlp.up_proj.weight"
    _rewrite(model, lambda w: w.update({name: w[name][:, :32]}))
    err = _fails(model, out_dir / "m.gguf", "shape_mismatch")
    assert (err.tensor, err.expected, err.actual) == (name, (96, 64), (96, 32))


def test_missing_tensor(model: Path, out_dir: Path) -> None:
    _rewrite(model, lambda w: w.pop("model.layers.0.self_attn.v_proj.weight"))
    err = _fails(model, out_dir / "m.gguf", "missing_tensor")
    assert err.tensor == "model.layers.0.self_attn.v_proj.weight"


def test_missing_lm_head_when_not_tied(model: Path, out_dir: Path) -> None:
    _rewrite(model, lambda w: w.pop("lm_head.weight"))
    assert _fails(model, out_dir / "m.gguf", "missing_tensor").tensor == "lm_head.weight"


@pytest.mark.parametrize(
    "name", ["model.layers.2.mlp.up_proj.weight", "model.vision_tower.x.weight", "extra"]
)
def test_unexpected_tensor(model: Path, out_dir: Path, name: str) -> None:
    _rewrite(model, lambda w: w.update({name: np.zeros((2, 2), np.float32)}))
    assert _fails(model, out_dir / "m.gguf", "unexpected_tensor").tensor == name


def test_rotary_inv_freq_buffers_are_skipped(model: Path, out_dir: Path) -> None:
    name = "model.layers.0.self_attn.rotary_emb.inv_freq"
    _rewrite(model, lambda w: w.update({name: np.ones(8, np.float32)}))
    assert convert_hf_to_gguf(model, out_dir / "m.gguf", "f16").is_file()


def test_an_existing_output_is_never_replaced_unasked(model: Path, out_dir: Path) -> None:
    out = out_dir / "m.gguf"
    out.write_bytes(b"keep me")
    _fails(model, out, "exists")
    assert out.read_bytes() == b"keep me"
    convert_hf_to_gguf(model, out, "f16", overwrite=True)
    assert out.read_bytes()[:4] == b"GGUF"


def test_an_output_that_appears_during_the_conversion_is_kept(model: Path, out_dir: Path) -> None:
    out = out_dir / "m.gguf"

    def someone_else_writes(p: ConvertProgress) -> None:
        if p.tensor_index == 1:
            out.write_bytes(b"theirs")

    with pytest.raises(ConvertError) as exc:
        convert_hf_to_gguf(model, out, "f16", someone_else_writes)
    assert exc.value.code == "exists" and out.read_bytes() == b"theirs"
    assert [p.name for p in out_dir.iterdir()] == ["m.gguf"]


def test_cancel(model: Path, out_dir: Path) -> None:
    stop = threading.Event()

    def cancel_at_third(p: ConvertProgress) -> None:
        if p.tensor_index == 3:
            stop.set()

    _fails(model, out_dir / "m.gguf", "cancelled", on_progress=cancel_at_third, cancel=stop)
    _fails(model, out_dir / "m.gguf", "cancelled", cancel=lambda: True)


def test_a_source_changed_while_converting(model: Path, out_dir: Path) -> None:
    weights = model / "model.safetensors"

    def touch(p: ConvertProgress) -> None:
        if p.tensor_index == 2:
            st = weights.stat()
            os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))

    err = _fails(model, out_dir / "m.gguf", "source_changed", on_progress=touch)
    assert err.files == (str(weights),)


def test_not_enough_free_space_is_refused_before_writing(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(converter_mod.shutil, "disk_usage", lambda _p: _Usage(1000))
    err = _fails(model, out_dir / "m.gguf", "disk_full")
    assert err.available == 1000 and err.needed is not None and err.needed > 1000


class _Usage:
    def __init__(self, free: int) -> None:
        self.total, self.used, self.free = free * 10, free * 9, free


@pytest.mark.parametrize("after", [0, 5000, 60_000])
def test_disk_full_mid_write_removes_the_temporary_file(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    real_write = converter_mod.OutputSink.write
    written = [0]

    def write(self: Any, data: Any) -> None:
        if written[0] + len(data) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        written[0] += len(data)
        real_write(self, data)

    monkeypatch.setattr(converter_mod.OutputSink, "write", write)
    _fails(model, out_dir / "m.gguf", "disk_full")


def test_disk_full_while_writing_the_header(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_self: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_kv_data_to_file", full)
    _fails(model, out_dir / "m.gguf", "disk_full")


def test_a_read_only_output_folder(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_out: Path) -> Path:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(converter_mod, "_create_temp", refuse)
    _fails(model, out_dir / "m.gguf", "permission_denied")


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_final_rename_is_refused(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool
) -> None:
    def refuse(*_a: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(converter_mod.os, "replace", refuse)
    monkeypatch.setattr(converter_mod.os, "link", refuse)
    _fails(model, out_dir / "m.gguf", "permission_denied", overwrite=overwrite)


def test_file_systems_without_hard_links_still_get_an_atomic_rename(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_a: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(converter_mod.os, "link", no_links)
    out = convert_hf_to_gguf(model, out_dir / "m.gguf", "f16")
    assert [p.name for p in out_dir.iterdir()] == ["m.gguf"] and out.stat().st_size > 0


def test_an_output_path_that_is_a_folder(model: Path, out_dir: Path) -> None:
    with pytest.raises(ConvertError) as exc:
        convert_hf_to_gguf(model, out_dir, "f16", overwrite=True)
    assert exc.value.code == "exists"


def test_the_output_folder_is_created(model: Path, tmp_path: Path) -> None:
    out = convert_hf_to_gguf(model, tmp_path / "new" / "deeper" / "m.gguf", "bf16")
    assert out.is_file()


def test_a_config_change_during_conversion_is_caught(model: Path, out_dir: Path) -> None:
    config = model / "config.json"

    def edit(p: ConvertProgress) -> None:
        if p.tensor_index == 1:
            data = json.loads(config.read_text())
            data["rope_theta"] = 5.0
            config.write_text(json.dumps(data) + " " * 10)

    _fails(model, out_dir / "m.gguf", "source_changed", on_progress=edit)


@pytest.mark.parametrize("outtype", ["f32", "f16", "bf16", "q8_0"])
def test_chunk_size_does_not_change_the_output(
    model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch, outtype: str
) -> None:
    whole = convert_hf_to_gguf(model, out_dir / "whole.gguf", outtype).read_bytes()
    monkeypatch.setattr(tensors_mod, "CHUNK_BYTES", 3 * 64 * 4)  # 3 rows of 64 at a time
    chunked = convert_hf_to_gguf(model, out_dir / "chunked.gguf", outtype).read_bytes()
    assert chunked == whole


@pytest.mark.parametrize("damage", ["truncate", "int_dtype", "huge_header"])
def test_damaged_weights_fail_before_anything_is_written(
    model: Path, out_dir: Path, damage: str
) -> None:
    path = model / "model.safetensors"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-100])
    elif damage == "int_dtype":
        path.write_bytes(data.replace(b'"dtype": "F32"', b'"dtype": "I32"', 1))
    else:
        path.write_bytes((200 * 2**20).to_bytes(8, "little") + data[8:])
    code = {"truncate": "truncated", "int_dtype": "unsupported_dtype"}.get(
        damage, "header_too_large"
    )
    _fails(model, out_dir / "m.gguf", code)


def test_the_output_never_replaces_a_source_file(model: Path) -> None:
    before = (model / "config.json").read_bytes()
    with pytest.raises(ConvertError) as exc:
        convert_hf_to_gguf(model, model / "config.json", "f16", overwrite=True)
    assert exc.value.code == "exists" and (model / "config.json").read_bytes() == before
