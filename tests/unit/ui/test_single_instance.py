"""One QuantDesk per config folder: the second start activates the first; stale locks recover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QLockFile
from pytestqt.qtbot import QtBot

from desktop_app.ui.single_instance import (
    LOCK_FILE_NAME,
    Claim,
    Outcome,
    SingleInstance,
    server_name,
)


def claim_in_thread(config: Path) -> Claim:
    """A second instance's claim, made on another thread: its blocking socket calls must not
    stop this thread's event loop, which the first instance needs to answer."""
    result: list[Claim] = []

    def run() -> None:
        other = SingleInstance(config)
        result.append(other.claim())
        shiboken6.delete(other)  # a QObject of this short-lived thread dies with it

    thread = threading.Thread(target=run)
    thread.start()
    return_when = time.monotonic() + 15
    from PySide6.QtCore import QCoreApplication

    while thread.is_alive() and time.monotonic() < return_when:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    thread.join(1)
    assert result, "the second claim did not finish"
    return result[0]


def test_second_claim_activates_the_first(qtbot: QtBot, tmp_path: Path) -> None:
    first = SingleInstance(tmp_path / "config")
    assert first.claim().outcome is Outcome.FIRST
    with qtbot.waitSignal(first.activation_requested, timeout=10_000):
        second = claim_in_thread(tmp_path / "config")
    assert second.outcome is Outcome.ACTIVATED and second.pid == os.getpid()
    first.release()
    # Released: the next one is first again.
    again = SingleInstance(tmp_path / "config")
    assert again.claim().outcome is Outcome.FIRST
    again.release()


def test_other_config_folders_are_other_instances(tmp_path: Path, qapp: object) -> None:
    a, b = SingleInstance(tmp_path / "a"), SingleInstance(tmp_path / "b")
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")
    assert a.claim().outcome is Outcome.FIRST and b.claim().outcome is Outcome.FIRST
    a.release()
    b.release()


def test_a_holder_that_does_not_answer_is_reported(tmp_path: Path, qapp: object) -> None:
    config = tmp_path / "config"
    config.mkdir()
    holder = QLockFile(str(config / LOCK_FILE_NAME))  # holds the lock, runs no server
    assert holder.tryLock(100)
    try:
        claim = SingleInstance(config).claim()
    finally:
        holder.unlock()
    assert claim.outcome is Outcome.UNREACHABLE
    assert claim.pid == os.getpid()
    assert claim.detail  # Qt's reason, e.g. "QLocalSocket::connectToServer: Server not found"


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path, qapp: object) -> None:
    config = tmp_path / "config"
    config.mkdir()
    # A lock file as a crashed QuantDesk leaves it: a PID that no longer runs.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = os.uname().nodename if hasattr(os, "uname") else ""
    (config / LOCK_FILE_NAME).write_text(f"{dead.stdout.strip()}\npython\n{host}\n")
    instance = SingleInstance(config)
    assert instance.claim().outcome is Outcome.FIRST
    instance.release()


# --- real processes -----------------------------------------------------------------------------


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_until_listening(proc: subprocess.Popen[str], log: Path, starts: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"QuantDesk exited with {proc.returncode}"
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        if text.count(" starting (") >= starts:
            time.sleep(1.0)  # the window is built after the log line; the server before it
            return
        time.sleep(0.1)
    raise AssertionError("QuantDesk did not start")


@pytest.mark.integration
def test_two_real_processes_and_a_crash(app_home: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    log = app_home / "logs" / "quantdesk.log"
    first = _start(env)
    try:
        _wait_until_listening(first, log, 1)
        second = subprocess.run(
            [sys.executable, "-m", "desktop_app"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        assert first.poll() is None  # the first one is still there

        first.send_signal(signal.SIGKILL)  # a crash: the lock file stays behind
        first.wait(10)
        assert (app_home / "config" / LOCK_FILE_NAME).exists()
        third = _start(env)
        try:
            _wait_until_listening(third, log, 2)  # started despite the stale lock
            fourth = subprocess.run(
                [sys.executable, "-m", "desktop_app"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert fourth.returncode == 0 and "already running" in fourth.stdout
        finally:
            third.terminate()
            third.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
