"""The application icon as a QIcon, built from the rendered PNG sizes (see desktop_app/resources).

Each size is added with its size stated, so Qt picks the nearest one for the title bar, task
bar and alt-tab without reading every file first; no SVG plugin is needed at run time.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from desktop_app import resources


def app_icon() -> QIcon:
    """Every rendered size of the QuantDesk icon (a null icon if resources/ is missing)."""
    icon = QIcon()
    for size in resources.ICON_SIZES:
        path = resources.app_icon_png(size)
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    return icon
