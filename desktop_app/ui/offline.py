"""The app's offline switch: one object, shared by every page that could open a connection.

Discover, Downloads and Settings read and flip the same switch; pages listen to ``changed``.
``HF_HUB_OFFLINE`` in the environment forces it on (the switch then shows on and locked).
Core code never sees this object: pages pass ``hub_config()`` to core calls, which is a plain
``HubConfig`` carrying the switch's state at that moment.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop_app.core.hub.session import HubConfig, env_offline


class OfflineSwitch(QObject):
    changed = Signal(bool)  # the effective state: True when offline

    def __init__(self, offline: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._chosen = offline

    @property
    def forced_by_environment(self) -> bool:
        return env_offline()

    def is_offline(self) -> bool:
        return self._chosen or env_offline()

    def chosen(self) -> bool:
        """What the user chose, whatever the environment says (Settings persists this)."""
        return self._chosen

    def set_offline(self, offline: bool) -> None:
        before = self.is_offline()
        self._chosen = bool(offline)
        if self.is_offline() != before:
            self.changed.emit(self.is_offline())

    def hub_config(self) -> HubConfig:
        return HubConfig.from_env(offline=self._chosen)
