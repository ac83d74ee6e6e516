"""Guards against Qt binding regressions the app cannot work around."""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot
from pytestqt.qtbot import QtBot


class _Relay(QObject):
    fired = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.fired.connect(self.on_fired, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def on_fired(self, _payload: object) -> None:
        self.count += 1


def test_queued_slot_calls_keep_reference_counts(qtbot: QtBot) -> None:
    # PySide6 6.12.0 lost one reference to True per queued call: a streaming chat delivers
    # thousands, and the interpreter then aborts. The app pins a binding without the bug.
    relay = _Relay()
    before = sys.getrefcount(True)
    for i in range(200):
        relay.fired.emit(i)
    QCoreApplication.processEvents()
    qtbot.waitUntil(lambda: relay.count == 200, timeout=5000)
    assert sys.getrefcount(True) >= before - 5
