from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, QThreadPool
from pytestqt.qtbot import QtBot

from desktop_app.ui.tasks import CancelToken, Op


@pytest.fixture
def pool() -> QThreadPool:
    p = QThreadPool()
    yield p
    p.waitForDone(5000)


def test_success_runs_on_the_gui_thread(qtbot: QtBot, pool: QThreadPool) -> None:
    gui_thread = threading.get_ident()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 42

    def done(value: int) -> None:
        seen["value"] = value
        seen["callback"] = threading.get_ident()

    Op(work).success(done).run_in(pool)
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42
    assert seen["worker"] != gui_thread
    assert seen["callback"] == gui_thread


def test_failure_carries_the_exception(qtbot: QtBot, pool: QThreadPool) -> None:
    errors: list[BaseException] = []

    def boom() -> None:
        raise ValueError("bad input")

    Op(boom).success(lambda _v: pytest.fail("no success")).failure(errors.append).run_in(pool)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ValueError)


@pytest.mark.allow_log_errors
def test_unhandled_failure_is_logged(
    qtbot: QtBot, pool: QThreadPool, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("nobody listens")

    Op(boom).run_in(pool)
    qtbot.waitUntil(lambda: "background operation failed" in caplog.text, timeout=5000)


def test_results_for_a_destroyed_owner_are_dropped(qtbot: QtBot, pool: QThreadPool) -> None:
    release = threading.Event()
    delivered: list[object] = []
    owner = QObject()
    Op(lambda: release.wait(5) and "late").success(delivered.append).owned_by(owner).run_in(pool)
    owner.deleteLater()
    qtbot.wait(50)  # the owner (and its relay) are gone
    release.set()
    pool.waitForDone(5000)
    qtbot.wait(50)
    assert delivered == []


def test_cancel_token() -> None:
    token = CancelToken()
    assert not token.cancelled
    token.cancel()
    assert token.cancelled
