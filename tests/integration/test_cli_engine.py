"""quantdesk generate / chat / bench as a user runs them: real subprocesses and real models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, needs_opt_in_huge_pages

from desktop_app.core.engine.client import SyncWorker
from desktop_app.core.engine.protocol import SAMPLING_PRESETS, ChatMessage, Done, LoadSettings
from desktop_app.core.hardware import default_threads

pytestmark = pytest.mark.integration


def run_cli(*args: str, env_home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QUANTDESK_HOME=str(env_home))
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=120,
        check=False,
    )


def test_generate_streams_only_the_reply_to_stdout(tiny_gguf: Path, app_home: Path) -> None:
    args = ("generate", str(tiny_gguf), "--prompt", "Hello there", "--preset", "Precise")
    proc = run_cli(*args, "--max-tokens", "24", env_home=app_home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    # The same reply the engine gives in-process: stdout holds nothing but the text.
    with SyncWorker() as sw:
        sw.wait(sw.worker.load(LoadSettings(str(tiny_gguf))))
        sampling = SAMPLING_PRESETS["Precise"].__class__(
            **{**SAMPLING_PRESETS["Precise"].__dict__, "max_tokens": 24}
        )
        done = sw.result(
            sw.worker.generate(messages=[ChatMessage("user", "Hello there")], sampling=sampling)
        )
    assert isinstance(done, Done)
    assert proc.stdout == done.text + "\n"


def test_generate_raw_prompt(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli(
        "generate", str(tiny_gguf), "--prompt", "Once upon", "--raw", "--max-tokens", "8",
        "--ctx", "512", "--threads", "1", env_home=app_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n") and len(proc.stdout) > 1


def test_bench_json(tiny_models: dict[str, Path], app_home: Path) -> None:
    proc = run_cli(
        "bench", str(tiny_models["Q4_K_M"]), "--json", "--prompt-tokens", "64",
        "--gen-tokens", "16", "--ctx", "512", env_home=app_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing but JSON on stdout
    assert data["prompt_tps"] > 0 and data["gen_tps"] > 0
    # Decode alone leaves out sampling and streaming, so it is never slower.
    assert data["prompt_decode_tps"] >= data["prompt_tps"] * 0.99
    if data["gen_tokens"] > 1:
        assert data["gen_decode_tps"] >= data["gen_tps"] * 0.99
    assert data["threads_auto"] is (default_threads() > 1) and data["gen_threads"] >= 1
    assert 0 < data["ttft_s"] < 30
    assert data["peak_rss"] > 10 * 2**20
    assert 60 <= data["prompt_tokens"] <= 68
    assert 1 <= data["gen_tokens"] <= 16


@needs_opt_in_huge_pages
def test_bench_puts_the_worker_on_huge_pages_by_itself(tiny_gguf: Path, app_home: Path) -> None:
    # No tunable inherited from the test process: `quantdesk` itself sets it for its workers.
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    proc = subprocess.run(
        [sys.executable, "-m", "desktop_app", "bench", str(tiny_gguf), "--json", "--ctx", "8192",
         "--prompt-tokens", "16", "--gen-tokens", "4"],
        capture_output=True, text=True, env=dict(env, QUANTDESK_HOME=str(app_home)),
        timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["use_mmap"] is False
    assert data["huge_page_bytes"] >= 8 * 2**20  # the 8 MiB KV cache at least


def test_bench_text(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli("bench", str(tiny_gguf), "--prompt-tokens", "32", "--gen-tokens", "8",
                   env_home=app_home)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "tokens/s" in proc.stdout and "Peak memory" in proc.stdout
    assert "Weights in  the worker's own memory" in proc.stdout


def test_bench_mmap_maps_the_file(tiny_gguf: Path, app_home: Path) -> None:
    proc = run_cli("bench", str(tiny_gguf), "--mmap", "--json", "--prompt-tokens", "16",
                   "--gen-tokens", "4", env_home=app_home)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["use_mmap"] is True
    text = run_cli("bench", str(tiny_gguf), "--mmap", "--prompt-tokens", "16", "--gen-tokens",
                   "4", env_home=app_home)  # fmt: skip
    assert "Weights in  the file mapped" in text.stdout


def test_chat_reads_lines_until_exit(tiny_gguf: Path, app_home: Path) -> None:
    one = run_cli(
        "chat", str(tiny_gguf), "--preset", "Precise", "--max-tokens", "12",
        env_home=app_home, stdin="Hello there\n/exit\nnot read\n",
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    gen = run_cli(
        "generate", str(tiny_gguf), "--prompt", "Hello there", "--preset", "Precise",
        "--max-tokens", "12", env_home=app_home,
    )  # fmt: skip
    assert one.stdout == gen.stdout  # a first turn is the same conversation
    two = run_cli(
        "chat", str(tiny_gguf), "--system", "Be brief.", "--max-tokens", "6",
        env_home=app_home, stdin="Hello\n\nAnd again\n",
    )  # fmt: skip
    assert two.returncode == 0, two.stderr  # EOF ends the chat
    assert two.stdout.count("\n") >= 2


def test_ctrl_c_cancels_the_reply_and_chat_goes_on(tiny_gguf: Path, app_home: Path) -> None:
    env = dict(os.environ, QUANTDESK_HOME=str(app_home))
    with subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "chat", str(tiny_gguf), "--preset", "Precise",
         "--max-tokens", "4000"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(b"the the the\n")
            proc.stdin.flush()
            assert os.read(proc.stdout.fileno(), 1)  # the reply has started
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the CLI and its worker
            started = time.monotonic()
            proc.stdin.write(b"Hello\n/exit\n")  # the worker survived: the chat goes on
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0
            assert time.monotonic() - started < 10  # not the whole 4000-token reply
            err = proc.stderr.read().decode()
            assert "Traceback" not in err and "quantdesk:" not in err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_engine_command_errors(tiny_gguf: Path, app_home: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"garbage" * 10)
    assert_one_line_error(
        run_cli("generate", str(junk), "--prompt", "x", env_home=app_home), "not a GGUF file"
    )
    assert_one_line_error(
        run_cli("bench", str(tmp_path / "missing.gguf"), env_home=app_home), "no such file"
    )
    huge = "word " * 3000
    assert_one_line_error(
        run_cli("generate", str(tiny_gguf), "--prompt", huge, "--ctx", "256", env_home=app_home),
        "context",
    )
    bad = run_cli("generate", str(tiny_gguf), "--prompt", "x", "--ctx", "0", env_home=app_home)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
