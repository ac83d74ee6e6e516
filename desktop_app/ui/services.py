"""The services pages receive from app.py (the composition root). No global registry."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.paths import AppPaths
from desktop_app.ui.tasks import Pools


@dataclass
class Services:
    paths: AppPaths
    pools: Pools
