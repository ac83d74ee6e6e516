"""Where QuantDesk keeps its files.

Folders come from platformdirs (XDG on Linux, ~/Library on macOS, %LOCALAPPDATA% on Windows).
``QUANTDESK_HOME`` puts everything under one folder instead: portable installs use it, and the
test suite points it at a temporary directory so no test touches the real home folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "QuantDesk"
HOME_ENV = "QUANTDESK_HOME"
MODELS_ENV = "QUANTDESK_MODELS_DIR"


@dataclass(frozen=True)
class AppPaths:
    """The app's folders. Nothing is created until :meth:`ensure` is called."""

    config: Path
    data: Path
    cache: Path
    logs: Path
    models: Path

    @classmethod
    def default(cls) -> AppPaths:
        home = os.environ.get(HOME_ENV)
        if home:
            root = Path(home)
            paths = cls(
                config=root / "config",
                data=root / "data",
                cache=root / "cache",
                logs=root / "logs",
                models=root / "models",
            )
        else:
            # Imported here: platformdirs is only needed when no override is set.
            import platformdirs

            dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
            data = Path(dirs.user_data_dir)
            paths = cls(
                config=Path(dirs.user_config_dir),
                data=data,
                cache=Path(dirs.user_cache_dir),
                logs=Path(dirs.user_log_dir),
                models=data / "models",
            )
        models_override = os.environ.get(MODELS_ENV)
        if models_override:
            paths = cls(paths.config, paths.data, paths.cache, paths.logs, Path(models_override))
        return paths

    def ensure(self) -> AppPaths:
        for folder in (self.config, self.data, self.cache, self.logs, self.models):
            folder.mkdir(parents=True, exist_ok=True)
        return self
