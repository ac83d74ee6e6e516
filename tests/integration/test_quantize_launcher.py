"""QuantizeLauncher: a quantize worker started ahead of its job, with real processes.

The spare must do the job exactly as a fresh worker does (same bytes), be replaced after each
job, be replaced when it dies idle, never outlive the app (``close``, or the app's end of its
pipe closing), and a cancel on a spare-run job must clean up as on a fresh one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from desktop_app.core.ladder import LadderJob
from desktop_app.core.quantize_errors import QuantizeCancelledError
from desktop_app.core.quantize_job import QuantizeJob, QuantizeProgress
from desktop_app.core.quantize_launcher import QuantizeLauncher
from desktop_app.core.quantize_worker import TEST_HOOK_ENV, TEST_HOOKS_ENV
from desktop_app.core.synthetic_model import write_model

pytestmark = pytest.mark.integration

TIMEOUT = 120


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def launcher() -> QuantizeLauncher:
    made = QuantizeLauncher()
    yield made
    made.close()


def test_a_spare_does_the_job_like_a_fresh_worker(
    tiny_models: dict[str, Path], tmp_path: Path, launcher: QuantizeLauncher
) -> None:
    source = tiny_models["F16"]
    fresh = QuantizeJob(source, tmp_path / "fresh.gguf", "Q8_0", threads=2).run(TIMEOUT)

    launcher.prime()
    spare_pid = launcher.spare_pid
    assert spare_pid is not None
    assert launcher.wait_ready()
    assert launcher.wait_ready(0.1)  # asked again: still ready, without another message
    warm = QuantizeJob(source, tmp_path / "warm.gguf", "Q8_0", threads=2, launcher=launcher)
    warm.start()
    assert warm._process.pid == spare_pid  # the job really ran on the spare
    result = warm.wait(TIMEOUT)
    assert digest(result.destination) == digest(fresh.destination)
    # The job's end started the next spare, a different process; the used one has exited.
    assert launcher.spare_pid not in (None, spare_pid)
    assert gone(spare_pid)


def test_a_job_takes_a_spare_that_is_still_starting(
    tiny_models: dict[str, Path], tmp_path: Path, launcher: QuantizeLauncher
) -> None:
    launcher.prime()
    pid = launcher.spare_pid
    job = QuantizeJob(tiny_models["F16"], tmp_path / "t.gguf", "Q4_K_M", launcher=launcher)
    job.start()  # no wait_ready: the request waits in the pipe until the worker is ready
    assert job._process.pid == pid
    assert job.wait(TIMEOUT).output_bytes > 0


def test_a_spare_that_died_idle_is_replaced(
    tiny_models: dict[str, Path], tmp_path: Path, launcher: QuantizeLauncher
) -> None:
    launcher.prime()
    assert launcher.wait_ready()
    dead = launcher.spare_pid
    assert dead is not None
    psutil.Process(dead).kill()
    assert gone(dead)
    job = QuantizeJob(tiny_models["F16"], tmp_path / "t.gguf", "Q8_0", launcher=launcher)
    job.start()
    assert job._process.pid != dead
    assert job.wait(TIMEOUT).destination.exists()


def test_cancel_on_a_spare_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launcher: QuantizeLauncher
) -> None:
    source = write_model(tmp_path / "small-F16.gguf", "small")
    out = tmp_path / "out"
    out.mkdir()
    # The spare inherits the environment when it starts, so the hook is set before priming.
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    monkeypatch.setenv(TEST_HOOK_ENV, "slow:0.1")
    launcher.prime()
    assert launcher.wait_ready()
    seen: list[QuantizeProgress] = []
    job = QuantizeJob(
        source,
        out / "small-Q4_K_M.gguf",
        "Q4_K_M",
        launcher=launcher,
        on_event=lambda e: seen.append(e) if isinstance(e, QuantizeProgress) else None,
    )
    job.start()
    deadline = time.monotonic() + TIMEOUT
    while not any(p.done >= 2 for p in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    job.cancel()
    with pytest.raises(QuantizeCancelledError):
        job.wait(1)
    assert list(out.iterdir()) == []


def test_close_ends_the_spare_and_starts_no_more(launcher: QuantizeLauncher) -> None:
    launcher.prime()
    pid = launcher.spare_pid
    assert pid is not None and launcher.wait_ready()
    launcher.close()
    assert gone(pid)
    launcher.prime()
    assert launcher.spare_pid is None


def test_no_spare_without_keep_spare() -> None:
    launcher = QuantizeLauncher(keep_spare=False)
    launcher.prime()
    launcher.job_ended()
    assert launcher.spare_pid is None


def test_a_spare_exits_when_the_app_dies(tmp_path: Path) -> None:
    # The "app" is a child process that starts a spare, reports its pid and is killed.
    script = textwrap.dedent(
        """
        import os, sys, time
        from desktop_app.core.quantize_launcher import QuantizeLauncher
        if __name__ == "__main__":
            launcher = QuantizeLauncher()
            launcher.prime()
            launcher.wait_ready()
            print(launcher.spare_pid, flush=True)
            time.sleep(600)
        """
    )
    path = tmp_path / "app.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    app = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert app.stdout is not None
        spare = int(app.stdout.readline())
        assert psutil.pid_exists(spare)
    finally:
        app.kill()
        app.wait()
        if app.stdout is not None:
            app.stdout.close()
    assert gone(spare)


def test_a_ladder_runs_its_steps_on_spares(
    tiny_models: dict[str, Path], tmp_path: Path, launcher: QuantizeLauncher
) -> None:
    started: list[int] = []
    original = launcher.launch

    def launch() -> object:
        launched = original()
        started.append(launched[0].pid)
        return launched

    launcher.launch = launch  # type: ignore[method-assign]
    spares: list[int | None] = []
    original_prime = launcher.prime

    def prime() -> None:
        original_prime()
        spares.append(launcher.spare_pid)

    launcher.prime = prime  # type: ignore[method-assign]
    labels = ("Q8_0", "Q4_K_M", "Q2_K")
    (tmp_path / "out").mkdir()
    result = LadderJob(tiny_models["F16"], tmp_path / "out", labels, launcher=launcher).run(TIMEOUT)
    assert [o.plan.file_type.label for o in result.outputs] == list(labels)
    # Steps 2 and 3 ran on the spares the previous steps' ends started.
    assert started[1:] == spares[:2]


def _environ(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc/PID/environ")
def test_quantize_workers_start_without_the_model_workers_huge_pages(
    launcher: QuantizeLauncher,
) -> None:
    # Model workers start with glibc's huge-page tunable; a quantize worker started after (or
    # while) one starts must not inherit it: fresh 2 MiB pages slow its per-tensor buffers.
    from desktop_app.core.engine.client import SyncWorker

    with SyncWorker() as model_worker:
        model_pid = model_worker.worker.pid
        assert model_pid is not None
        assert any(v.endswith("glibc.malloc.hugetlb=1") for v in _environ(model_pid))
        launcher.prime()
        assert launcher.wait_ready()
        spare = launcher.spare_pid
    assert spare is not None
    assert not any("glibc.malloc.hugetlb=1" in v for v in _environ(spare))
