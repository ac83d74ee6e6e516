from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.paths import AppPaths


def test_quantdesk_home_roots_every_folder(app_home: Path) -> None:
    paths = AppPaths.default()
    for folder in (paths.config, paths.data, paths.cache, paths.logs, paths.models):
        assert app_home in folder.parents
    assert not paths.models.exists()  # nothing is created until asked
    paths.ensure()
    assert paths.models.is_dir() and paths.logs.is_dir()


def test_models_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUANTDESK_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert AppPaths.default().models == tmp_path / "elsewhere"


def test_platform_folders_without_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUANTDESK_HOME")
    paths = AppPaths.default()
    # The suite points XDG_* at a temp dir, so platformdirs resolves there, never into ~.
    assert "QuantDesk" in str(paths.config)
    assert not str(paths.data).startswith(str(Path.home() / ".local"))
