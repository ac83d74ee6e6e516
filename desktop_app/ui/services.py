"""The services pages receive from app.py (the composition root). No global registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_app.core.hub.downloads import DownloadManager
from desktop_app.core.paths import AppPaths
from desktop_app.core.quantize_launcher import QuantizeLauncher
from desktop_app.ui.downloads_bridge import default_download_manager
from desktop_app.ui.models_folder import ModelsFolderSwitch
from desktop_app.ui.offline import OfflineSwitch
from desktop_app.ui.settings_store import SettingsStore
from desktop_app.ui.tasks import Pools


@dataclass
class Services:
    paths: AppPaths
    pools: Pools
    # One field per line; fields added later have defaults so tests can build Services(paths,
    # pools) and get working, temp-folder-backed parts.
    offline: OfflineSwitch = field(default_factory=OfflineSwitch)
    settings: SettingsStore = field(default_factory=SettingsStore)
    downloads: DownloadManager = field(default_factory=default_download_manager)
    # Quantize workers, one kept started ahead once the Convert page has a source; closed at exit.
    quantize_launcher: QuantizeLauncher = field(default_factory=QuantizeLauncher)
    # Moves paths.models (and the downloads) when Settings puts another folder first; app.py
    # binds it, tests that need it call bind().
    models_folder: ModelsFolderSwitch = field(default_factory=ModelsFolderSwitch)
