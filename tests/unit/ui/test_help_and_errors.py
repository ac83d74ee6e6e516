"""Help menu (Copy diagnostics, Open log folder) and the dialog for unhandled exceptions."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from pytestqt.qtbot import QtBot

from desktop_app.core.app_log import LOG_FILE_NAME
from desktop_app.core.hf_token import SecretFilter
from desktop_app.ui.error_dialog import ErrorReporter
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.services import Services

TOKEN = "hf_HelpMenuSecret0123456789qrst"


def _action(window: MainWindow, text: str) -> object:
    for action in window.help_menu.actions():
        if action.text() == text:
            return action
    raise AssertionError(f"no {text!r} in the Help menu")


def test_copy_diagnostics_puts_a_redacted_report_on_the_clipboard(
    qtbot: QtBot, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SecretFilter, "_known", frozenset({TOKEN}))
    services.paths.logs.mkdir(parents=True, exist_ok=True)
    (services.paths.logs / LOG_FILE_NAME).write_text(
        f"first line\nlast line with {TOKEN}\n", encoding="utf-8"
    )
    window = MainWindow(services)
    qtbot.addWidget(window)
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    _action(window, "Copy diagnostics").trigger()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "## QuantDesk" in clipboard.text(), timeout=15_000)
    text = clipboard.text()
    assert "Qt  " in text or "Qt " in text
    assert "llama_cpp_python" in text and "RAM total" in text
    assert "last line with hf_****qrst" in text and TOKEN not in text
    assert "copied to the clipboard" in window.statusBar().currentMessage()


class _UrlRecorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_open_log_folder(qtbot: QtBot, services: Services) -> None:
    window = MainWindow(services)
    qtbot.addWidget(window)
    recorder = _UrlRecorder()
    QDesktopServices.setUrlHandler("file", recorder, "open")
    try:
        _action(window, "Open log folder").trigger()  # type: ignore[attr-defined]
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(u.toLocalFile()) for u in recorder.urls] == [services.paths.logs]


class _Emitter(QObject):
    fired = Signal()


@pytest.mark.allow_log_errors
@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_shown_and_the_app_goes_on(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = ErrorReporter()
    reporter.install()
    try:
        emitter = _Emitter()
        calls: list[str] = []

        def broken_slot() -> None:
            calls.append("broken")
            raise ValueError(f"the slot broke near {TOKEN}")

        emitter.fired.connect(broken_slot)
        with qtbot.waitSignal(reporter.reported, timeout=5000):
            emitter.fired.emit()
        qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
        dialog = reporter.dialog
        assert dialog is not None and dialog.isVisible()
        assert "ValueError: the slot broke" in dialog.informativeText()
        assert TOKEN not in dialog.informativeText() + dialog.detailedText()
        assert "broken_slot" in dialog.detailedText()
        assert any(
            r.levelno == logging.ERROR and r.exc_info and r.exc_info[0] is ValueError
            for r in caplog.records
        )

        # The app keeps running: events are still delivered, and a second error (this time
        # from a Python thread) is counted in the same dialog instead of a new window.
        later: list[bool] = []
        QTimer.singleShot(0, lambda: later.append(True))
        qtbot.waitUntil(lambda: bool(later), timeout=5000)

        def thread_body() -> None:
            raise RuntimeError("a worker thread failed")

        thread = threading.Thread(target=thread_body)
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: reporter.count == 2, timeout=5000)
        assert reporter.dialog is dialog
        assert "RuntimeError: a worker thread failed" in dialog.informativeText()
        assert "2 unexpected errors" in dialog.informativeText()
        dialog.close()
        qtbot.waitUntil(lambda: reporter.dialog is None, timeout=5000)
    finally:
        reporter.uninstall()
    assert sys.excepthook is not reporter._excepthook  # noqa: SLF001
    assert threading.excepthook is not reporter._thread_excepthook  # noqa: SLF001
