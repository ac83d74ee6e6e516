"""Unhandled exceptions in the GUI: logged in full, shown in a dialog, and the app goes on.

``ErrorReporter.install`` replaces ``sys.excepthook`` (PySide passes exceptions raised in slots
and event handlers to it) and ``threading.excepthook`` (Python threads). Either may fire on any
thread, so the hook only logs and emits ``reported``; the dialog opens on the GUI thread through
the queued signal. The dialog is not modal and there is only one: errors that arrive while it
is open are counted in it rather than stacking windows.

Signals:
    reported(str, str): a one-line summary and the traceback, for the dialog.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app.core.hf_token import SecretFilter, redact

log = logging.getLogger(__name__)


class ErrorReporter(QObject):
    reported = Signal(str, str)

    def __init__(self, parent_widget: Callable[[], QWidget | None] = lambda: None) -> None:
        super().__init__()
        self._parent_widget = parent_widget
        self._previous: tuple[Any, Any] | None = None
        self.dialog: QMessageBox | None = None
        self.count = 0
        self.reported.connect(self._on_reported, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = None

    def _excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unhandled exception", exc_info=(exc_type, exc, tb))
        secrets = SecretFilter.known()
        summary = redact(f"{exc_type.__name__}: {exc}", secrets)
        details = redact("".join(traceback.format_exception(exc_type, exc, tb)), secrets)
        self.reported.emit(summary, details)

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        self._excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str)
    def _on_reported(self, summary: str, details: str) -> None:
        self.count += 1
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.setInformativeText(
                f"{summary}\n\n{self.count} unexpected errors so far; the last one is shown."
            )
            self.dialog.setDetailedText(details)
            return
        box = QMessageBox(self._parent_widget())
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unexpected error")
        box.setText(
            "Something went wrong inside QuantDesk. Your work is kept and the app keeps "
            "running; the details are in the log (Help > Copy diagnostics)."
        )
        box.setInformativeText(summary)
        box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(self._on_dialog_destroyed)
        self.dialog = box
        box.show()

    @Slot()
    def _on_dialog_destroyed(self) -> None:
        self.dialog = None
