"""`quantdesk quantize` and `quantdesk ladder` as a user runs them: real subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error as one_line_error

from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.provenance import read_sidecar
from desktop_app.core.quantize_worker import TEST_HOOK_ENV, TEST_HOOKS_ENV

pytestmark = pytest.mark.integration


def run_cli(*args: str, env_home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, QUANTDESK_HOME=str(env_home), **env),
        timeout=180,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    one_line_error(proc, *words)
    assert proc.stdout == ""


def test_quantize(tiny_models: dict[str, Path], tmp_path: Path, app_home: Path) -> None:
    out = tmp_path / "tiny-Q4_K_M.gguf"
    proc = run_cli(
        "quantize", str(tiny_models["F16"]), "--type", "q4_k_m", "-o", str(out),
        "--threads", "2", env_home=app_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)  # stdout: only the path written
    assert "100.0%" in proc.stderr and "wrote" in proc.stderr
    assert read_model_facts(out).quant_label == "Q4_K_M"
    assert read_sidecar(out) is not None


def test_quantize_default_output_name(
    tiny_models: dict[str, Path], tmp_path: Path, app_home: Path
) -> None:
    source = Path(shutil.copy(tiny_models["F16"], tmp_path / "model-F16.gguf"))
    proc = run_cli("quantize", str(source), "--type", "Q8_0", env_home=app_home)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "model-Q8_0.gguf").exists()


def test_quantize_errors_are_one_line(
    tiny_models: dict[str, Path], tmp_path: Path, app_home: Path
) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"PK\x03\x04" + os.urandom(100))
    out = tmp_path / "out.gguf"
    cases = [
        ((str(garbage), "--type", "Q4_K_M"), ("not a GGUF file",)),
        ((str(tmp_path / "missing.gguf"), "--type", "Q4_K_M"), ("no such file",)),
        ((str(tiny_models["F16"]), "--type", "Q9_X"), ("unknown quantization type",)),
        ((str(tiny_models["F16"]), "--type", "IQ2_XXS"), ("importance matrix",)),
        ((str(tiny_models["Q8_0"]), "--type", "Q2_K", "-o", str(out)), ("--allow-requantize",)),
        ((str(tiny_models["F16"]), "--type", "Q8_0", "-o", str(tiny_models["Q8_0"])),
         ("already there",)),
    ]  # fmt: skip
    for args, words in cases:
        assert_one_line_error(run_cli("quantize", *args, env_home=app_home), *words)
    assert not out.exists()


def test_requantize_allowed_warns(
    tiny_models: dict[str, Path], tmp_path: Path, app_home: Path
) -> None:
    out = tmp_path / "again.gguf"
    proc = run_cli(
        "quantize", str(tiny_models["Q8_0"]), "--type", "Q2_K", "-o", str(out),
        "--allow-requantize", env_home=app_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning: the input is already quantized (Q8_0)" in proc.stderr
    assert read_model_facts(out).quant_label == "Q2_K"


def test_worker_crash_is_one_line(
    tiny_models: dict[str, Path], tmp_path: Path, app_home: Path
) -> None:
    proc = run_cli(
        "quantize", str(tiny_models["F16"]), "--type", "Q8_0", "-o", str(tmp_path / "x.gguf"),
        env_home=app_home, **{TEST_HOOKS_ENV: "1", TEST_HOOK_ENV: "abort:2"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("the quantizer process stopped unexpectedly; nothing was written (SIGABRT)")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_cancels_and_cleans_up(tmp_path: Path, app_home: Path) -> None:
    from desktop_app.core.synthetic_model import write_model

    source = write_model(tmp_path / "src" / "small-F16.gguf", "small")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "quantize", str(source), "--type", "Q4_K_M",
         "-o", str(out_dir / "x.gguf")],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, QUANTDESK_HOME=str(app_home),
                 **{TEST_HOOKS_ENV: "1", TEST_HOOK_ENV: "slow:0.1"}),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") for p in out_dir.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(out_dir.iterdir()) == []


def test_list_types(app_home: Path) -> None:
    proc = run_cli("quantize", "--list-types", env_home=app_home)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "needs --imatrix" in lines["IQ2_XXS"]
    assert "Q4_K_M" in lines and "needs" not in lines["Q4_K_M"]


def test_ladder(tiny_models: dict[str, Path], tmp_path: Path, app_home: Path) -> None:
    out_dir = tmp_path / "ladder"
    out_dir.mkdir()
    proc = run_cli(
        "ladder", str(tiny_models["F16"]), "--types", "Q8_0,Q4_K_M,Q2_K", "-o", str(out_dir),
        env_home=app_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = [f"tiny-{x}.gguf" for x in ("Q8_0", "Q4_K_M", "Q2_K")]
    assert proc.stdout.split() == [str(out_dir / n) for n in names]
    assert "ladder of 3 types" in proc.stderr and "done: 3 files" in proc.stderr
    for name in names:
        assert read_sidecar(out_dir / name) is not None


def test_ladder_errors_are_one_line(
    tiny_models: dict[str, Path], tmp_path: Path, app_home: Path
) -> None:
    assert_one_line_error(
        run_cli("ladder", str(tiny_models["Q4_K_M"]), "-o", str(tmp_path), env_home=app_home),
        "already quantized",
    )
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    assert_one_line_error(
        run_cli("ladder", str(empty), "-o", str(tmp_path), env_home=app_home), str(empty)
    )
    empty.rmdir()
    assert_one_line_error(
        run_cli(
            "ladder",
            str(tiny_models["F16"]),
            "--types",
            "Q8_0,IQ1_M",
            "-o",
            str(tmp_path),
            env_home=app_home,
        ),  # fmt: skip
        "IQ1_M",
    )
    assert list(tmp_path.iterdir()) == []
