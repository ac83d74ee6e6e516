"""The quantdesk command as a user runs it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error

pytestmark = pytest.mark.integration


def run_cli(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QUANTDESK_HOME=str(env_home))
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_version(app_home: Path) -> None:
    proc = run_cli("--version", env_home=app_home)
    assert proc.returncode == 0
    assert proc.stdout.startswith("QuantDesk ")


def test_hardware_json(app_home: Path) -> None:
    proc = run_cli("hardware", "--json", env_home=app_home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["total_ram"] > data["available_ram"] > 0
    assert data["physical_cores"] >= 1
    assert data["features_source"] == "llama.cpp"
    assert "AVX2" in data["cpu_features"] or "NEON" in data["cpu_features"]
    assert data["disk_free"] > 0
    # llama.cpp's own log stays off stdout, so the JSON stays parseable.
    assert proc.stdout.lstrip().startswith("{")


def test_hardware_text(app_home: Path) -> None:
    proc = run_cli("hardware", env_home=app_home)
    assert proc.returncode == 0
    assert "RAM" in proc.stdout and "Cores" in proc.stdout


def test_inspect_json(tiny_models: dict[str, Path], app_home: Path) -> None:
    proc = run_cli("inspect", str(tiny_models["Q4_K_M"]), "--json", env_home=app_home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["architecture"] == "llama"
    assert data["quant"] == "Q4_K_M"
    assert data["layers"] == 2
    assert data["embedding_length"] == 256
    assert data["heads"] == 4
    assert data["kv_heads"] == 2
    assert data["key_length"] == 64
    assert data["vocab_size"] == 1024
    assert data["has_chat_template"] is True
    assert "Q4_K" in data["tensor_types"]
    assert 4.0 < data["bits_per_weight"] < 6.5


def test_inspect_text(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli("inspect", str(tiny_gguf), env_home=app_home)
    assert proc.returncode == 0
    assert "F16" in proc.stdout and "Tensor types" in proc.stdout


def test_fit_json(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli(
        "fit", str(tiny_gguf), "--ctx", "2048", "--kv-type", "q8_0", "--json", env_home=app_home
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("weights", "kv_cache", "compute", "overhead", "total"):
        assert isinstance(data[key], int)
    assert data["total"] == sum(
        data[k] for k in ("weights", "repack", "kv_cache", "compute", "overhead")
    )
    assert data["verdict"] in ("fits", "tight", "does_not_fit")
    assert data["n_ctx"] == 2048
    assert data["kv_type"] == "q8_0"


def test_fit_text(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli("fit", str(tiny_gguf), env_home=app_home)
    assert proc.returncode == 0
    assert "Verdict: fits" in proc.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ("empty",)),
        (b"PK\x03\x04 this is a zip", ("not a GGUF",)),
        (b"GGUF\x07\x00\x00\x00" + b"\x00" * 16, ("version",)),
        (b"GGUF\x03\x00\x00\x00" + b"\xff" * 16, ("more tensors",)),
    ],
)
def test_bad_files_give_one_line(
    tmp_path: Path, app_home: Path, content: bytes, words: tuple[str, ...]
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    for command in ("inspect", "fit"):
        assert_one_line_error(run_cli(command, str(bad), env_home=app_home), *words)


def test_truncated_model(tiny_gguf: Path, tmp_path: Path, app_home: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size - 1])
    assert_one_line_error(run_cli("inspect", str(cut), env_home=app_home), "past the end")


def test_missing_and_directory(tmp_path: Path, app_home: Path) -> None:
    assert_one_line_error(
        run_cli("inspect", str(tmp_path / "nope.gguf"), env_home=app_home), "no such file"
    )
    assert_one_line_error(run_cli("fit", str(tmp_path), env_home=app_home), "folder")


def test_bad_context_is_a_usage_error(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli("fit", str(tiny_gguf), "--ctx", "0", env_home=app_home)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_make_model(tmp_path: Path, app_home: Path) -> None:
    out = tmp_path / "made.gguf"
    proc = run_cli("dev", "make-model", str(out), "--quant", "Q8_0", env_home=app_home)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert (tmp_path / "made-Q8_0.gguf").exists()
    info = json.loads(
        run_cli("inspect", str(tmp_path / "made-Q8_0.gguf"), "--json", env_home=app_home).stdout
    )
    assert info["quant"] == "Q8_0"
