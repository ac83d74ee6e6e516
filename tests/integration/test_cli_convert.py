"""`quantdesk convert` as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gguf
import pytest
from cli_helpers import assert_one_line_error

from convert_fakes import make_model

pytestmark = pytest.mark.integration


def run_cli(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QUANTDESK_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_convert_writes_the_file_and_prints_its_path(tmp_path: Path, app_home: Path) -> None:
    folder, *_ = make_model(tmp_path / "Tiny-Qwen", "Qwen2ForCausalLM", "qwen2")
    out = tmp_path / "out" / "tiny.gguf"
    proc = run_cli(
        "convert", str(folder), "-o", str(out), "--outtype", "q8_0", home=app_home, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    assert "Qwen2ForCausalLM" in proc.stderr and "100.0%" in proc.stderr
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_Q8_0)
    assert [p.name for p in out.parent.iterdir()] == ["tiny.gguf"]


def test_default_output_name_and_no_clobber(tmp_path: Path, app_home: Path) -> None:
    folder, *_ = make_model(tmp_path / "Tiny-Llama")
    proc = run_cli("convert", str(folder), home=app_home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "Tiny-Llama-F16.gguf"
    assert proc.stdout.strip() == str(out) and out.is_file()
    size = out.stat().st_size
    again = run_cli("convert", str(folder), home=app_home, cwd=tmp_path)
    assert_one_line_error(again, "already exists")
    forced = run_cli(
        "convert",
        str(folder),
        "-o",
        str(out),
        "--force",
        "--outtype",
        "f32",
        home=app_home,
        cwd=tmp_path,
    )
    assert forced.returncode == 0 and out.stat().st_size > size


def test_an_unsupported_architecture_is_one_line(tmp_path: Path, app_home: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = ["GemmaForCausalLM"]
    (folder / "config.json").write_text(json.dumps(cfg))
    proc = run_cli(
        "convert", str(folder), "-o", str(tmp_path / "x.gguf"), home=app_home, cwd=tmp_path
    )
    assert_one_line_error(proc, "GemmaForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM")
    assert not (tmp_path / "x.gguf").exists()


def test_a_pickle_only_folder_is_one_line(tmp_path: Path, app_home: Path) -> None:
    folder, *_ = make_model(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04never loaded")
    proc = run_cli("convert", str(folder), home=app_home, cwd=tmp_path)
    assert_one_line_error(proc, "pickle", "pytorch_model.bin")
