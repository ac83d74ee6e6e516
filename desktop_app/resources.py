"""Where QuantDesk's bundled data files (``resources/`` in the source tree) are.

The folder sits next to the ``desktop_app`` package in a checkout or an editable install. A
frozen build (PyInstaller) unpacks it under ``sys._MEIPASS``; ``QUANTDESK_RESOURCES`` points
elsewhere when a packager puts it somewhere else. No Qt here: the core reads resources too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["resource_path", "resources_dir"]

RESOURCES_ENV = "QUANTDESK_RESOURCES"


def resources_dir() -> Path:
    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override)
    frozen = getattr(sys, "_MEIPASS", None)
    if isinstance(frozen, str):
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """``resources/<parts...>`` (the file may not exist; callers handle that)."""
    return resources_dir().joinpath(*parts)
