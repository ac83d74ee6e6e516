"""``quantdesk --selftest`` and ``--quit-after-show`` from source, as real subprocesses (the
bundle is checked the same way by test_bundle.py and the CI step after ``make bundle``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from desktop_app import __version__, selftest
from desktop_app.core.synthetic_model import write_model

pytestmark = pytest.mark.integration

STEP_LINE = re.compile(r"^  (window|model|engine)\s+ok\s+[\d.]+ s  (.+)$", re.MULTILINE)


def run_app(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        timeout=300,
        check=False,
    )


def check_selftest_output(proc: subprocess.CompletedProcess[str], build: str) -> None:
    """What both the source and the bundle selftest must print (test_bundle.py shares it)."""
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"QuantDesk {__version__} selftest ({build}, Python ")
    steps = dict(STEP_LINE.findall(proc.stdout))
    assert list(steps) == ["window", "model", "engine"], proc.stdout
    assert "Qt platform 'offscreen'" in steps["window"]
    shown_at = re.search(r"([\d.]+) s after process start", steps["window"])
    assert shown_at is not None
    assert 0.05 < float(shown_at.group(1)) < selftest.WINDOW_TIMEOUT_S
    assert "quantized to Q4_K_M" in steps["model"]
    generated = re.search(r"generated (\d+) tokens", steps["engine"])
    assert generated is not None and 1 <= int(generated.group(1)) <= 8
    assert "model chat template" in steps["engine"]  # the model's own template, rendered
    assert re.search(r"^selftest passed in [\d.]+ s$", proc.stdout, re.MULTILINE)


@pytest.mark.slow
def test_selftest_passes_and_writes_only_to_its_temp_dir(app_home: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = run_app("--selftest", TMPDIR=str(tmp))
    check_selftest_output(proc, "from source")
    assert not app_home.exists(), "the selftest wrote into the user's QuantDesk folders"
    assert list(tmp.iterdir()) == [], "the selftest left files in its temp dir"


def test_selftest_names_the_failed_step(tmp_path: Path) -> None:
    # Resources missing (a packager forgot resources/): the window step says so, in one line.
    proc = run_app("--selftest", QUANTDESK_RESOURCES=str(tmp_path / "nowhere"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("quantdesk")]
    assert errors == [
        "quantdesk selftest: window failed: the application icon is missing from the resources "
        "folder"
    ]
    assert "engine" not in proc.stdout  # it stops at the first failure


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no such file"),
        (b"not a model at all" * 10, "this is not a GGUF file"),
    ],
)
def test_engine_step_reports_a_model_that_will_not_load(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    model = tmp_path / "broken.gguf"
    if content:
        model.write_bytes(content)
    with pytest.raises(selftest.SelftestFailed, match=f"Could not load the model: {reason}"):
        selftest._step_engine(model)


def test_engine_step_loads_and_generates_in_a_worker(tmp_path: Path) -> None:
    line = selftest._step_engine(write_model(tmp_path / "tiny.gguf", "tiny"))
    match = re.fullmatch(
        r"worker process (\d+) loaded .* generated (\d+) tokens \(\d+ tokens/s\)", line
    )
    assert match is not None, line
    assert int(match.group(1)) != os.getpid()
    assert (
        not psutil.pid_exists(int(match.group(1)))
        or psutil.Process(int(match.group(1))).status() == psutil.STATUS_ZOMBIE
    ), "the worker outlived the step"


def test_process_age_counts_from_the_kernels_start_time() -> None:
    # A child that sleeps before asking: its age must include the sleep (interpreter start-up
    # counts), and agree with psutil's creation time (1 s resolution on Linux) within 1.5 s.
    code = (
        "import time; time.sleep(0.5); import psutil; from desktop_app import selftest;"
        "print(selftest.seconds_since_process_start(),"
        " time.time() - psutil.Process().create_time())"
    )
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    elapsed = time.monotonic() - started
    age, psutil_age = float(out[0]), float(out[1])
    assert 0.5 <= age <= elapsed + 0.05
    assert abs(age - psutil_age) < 1.5


def test_offscreen_is_chosen_only_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    selftest.use_offscreen_without_display()
    assert "QT_QPA_PLATFORM" not in os.environ
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    selftest.use_offscreen_without_display()
    expected = "offscreen" if sys.platform.startswith("linux") else None
    assert os.environ.get("QT_QPA_PLATFORM") == expected
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")  # an explicit choice is kept
    selftest.use_offscreen_without_display()
    assert os.environ["QT_QPA_PLATFORM"] == "xcb"


@pytest.mark.slow
def test_quit_after_show_opens_the_real_app_and_quits(app_home: Path) -> None:
    proc = run_app("--quit-after-show")
    assert proc.returncode == 0, proc.stderr
    match = re.fullmatch(
        rf"{selftest.SHOWN_PREFIX} ([\d.]+) s after process start \((\w+)\)\n", proc.stdout
    )
    assert match is not None, proc.stdout
    assert 0.05 < float(match.group(1)) < selftest.WINDOW_TIMEOUT_S
    assert match.group(2) == "MainWindow"
    assert app_home.is_dir()  # the real app ran, on the user's (here: the test's) folders


@pytest.mark.slow
def test_quit_after_show_says_so_when_another_instance_has_the_window(app_home: Path) -> None:
    from desktop_app.ui.single_instance import LOCK_FILE_NAME

    first = subprocess.Popen(
        [sys.executable, "-m", "desktop_app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        lock = app_home / "config" / LOCK_FILE_NAME
        deadline = time.monotonic() + 60
        while not lock.exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert lock.exists(), "the first instance never took the lock"
        # Its local server starts just after the lock; until then a second start is told the
        # first does not answer (another outcome), so give a busy machine a few tries.
        for _attempt in range(10):
            proc = run_app("--quit-after-show")
            if "already running" in proc.stdout:
                break
            time.sleep(1.0)
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert proc.returncode == 1
    assert "QuantDesk is already running" in proc.stdout
    assert proc.stderr.splitlines()[-1] == (
        "quantdesk: no window appeared (the app ended first: is QuantDesk already running?)"
    )
