"""The Settings page: every option saved and shown again; folders, offline, token, theme."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QScrollArea
from pytestqt.qtbot import QtBot

from desktop_app.core.hf_token import SecretFilter
from desktop_app.core.settings import SETTINGS_FILE_NAME, Settings, Theme, load_settings
from desktop_app.ui.pages.convert_page import ConvertPage
from desktop_app.ui.pages.settings_page import SettingsPage
from desktop_app.ui.services import Services
from desktop_app.ui.settings_store import SettingsStore, bind_offline, bind_theme
from desktop_app.ui.theme import apply_theme, is_dark
from desktop_app.ui.widgets.model_bar import ModelBar

TOKEN = "hf_SettingsPageSecret0123456789abcd"
TIMEOUT = 10_000


@pytest.fixture
def stored(services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    """Services whose settings are read from and saved to the test's config folder, and whose
    Hugging Face token file is in the test's temp folder."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(SecretFilter, "_known", frozenset())
    services.settings = SettingsStore.load(services.paths, services.pools.db)
    bind_offline(services.settings, services.offline)
    return services


def open_page(qtbot: QtBot, services: Services) -> SettingsPage:
    page = SettingsPage(services)
    qtbot.addWidget(page)
    page.resize(1000, 740)
    page.show()
    qtbot.waitUntil(lambda: page.token_box.state is not None, timeout=TIMEOUT)
    return page


def saved(services: Services) -> Settings:
    services.pools.db.waitForDone(TIMEOUT)
    return load_settings(services.paths).settings


def test_every_option_is_saved_and_shown_again(qtbot: QtBot, stored: Services) -> None:
    page = open_page(qtbot, stored)
    assert not page.notice.isVisible()
    page.ctx_spin.setValue(16384)
    page.kv_combo.setCurrentIndex(page.kv_combo.findData("q8_0"))
    page.mmap_check.setChecked(True)
    page.threads_auto.setChecked(False)
    page.threads_spin.setValue(3)
    page.theme_combo.setCurrentIndex(page.theme_combo.findData("light"))
    page.offline_check.setChecked(True)
    expected = Settings(
        default_context=16384,
        default_kv_type="q8_0",
        map_model_files=True,
        threads=3,
        theme=Theme.LIGHT,
        offline=True,
    )
    assert stored.settings.settings == expected
    assert stored.offline.is_offline()
    assert saved(stored) == expected
    # A new page on a store read from disk shows the same values.
    stored.settings = SettingsStore.load(stored.paths, stored.pools.db)
    again = open_page(qtbot, stored)
    assert again.ctx_spin.value() == 16384 and again.kv_combo.currentData() == "q8_0"
    assert again.mmap_check.isChecked()
    assert not again.threads_auto.isChecked() and again.threads_spin.value() == 3
    assert again.theme_combo.currentData() == "light"
    assert again.threads_spin.isEnabled()
    again.threads_auto.setChecked(True)
    assert saved(stored).threads is None and not again.threads_spin.isEnabled()
    apply_theme(QApplication.instance(), "system")  # type: ignore[arg-type]


def test_models_folders_add_reorder_remove(
    qtbot: QtBot,
    stored: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qtmodeltester: object,
) -> None:
    stored.models_folder.bind(stored)
    page = open_page(qtbot, stored)
    convert = ConvertPage(stored)
    qtbot.addWidget(convert)
    folders = page.folder_list
    default = str(stored.paths.models)
    assert folders.folders() == [default]
    assert not folders.remove_button.isEnabled()  # the only folder cannot go
    qtmodeltester.check(folders.model)  # type: ignore[attr-defined]

    extra = tmp_path / "my models"
    extra.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(extra))
    folders.add_button.click()
    folders.add_button.click()  # the same folder twice is listed once
    assert folders.folders() == [default, str(extra)]
    assert saved(stored).models_folders == (default, str(extra))
    assert not page.folders_note.isVisible()

    # Moving the new folder up makes it the download folder at once: downloads, conversions
    # and imports go there (the page says so while the folder is being made ready).
    assert folders.up_button.isEnabled() and not folders.down_button.isEnabled()
    with qtbot.waitSignal(stored.models_folder.changed, timeout=TIMEOUT):
        folders.up_button.click()
        assert page.folders_note.isVisible() and "ready" in page.folders_note.text()
    assert folders.folders() == [str(extra), default]
    assert stored.paths.models == extra == stored.downloads.models_root
    assert convert.output_dir == extra
    assert page.place_labels["models"].path() == str(extra)  # "Where things live" follows
    assert not page.folders_note.isVisible()
    with qtbot.waitSignal(stored.models_folder.changed, timeout=TIMEOUT):
        folders.down_button.click()
    assert folders.folders() == [default, str(extra)]
    assert str(stored.paths.models) == default == str(convert.output_dir)

    # A folder that cannot be made (a file stands in the way) changes nothing, and says why.
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with qtbot.waitSignal(stored.models_folder.failed, timeout=TIMEOUT):
        stored.settings.update(models_folders=(str(blocker / "models"), default, str(extra)))
    assert str(stored.paths.models) == default == str(stored.downloads.models_root)
    assert page.folders_note.isVisible() and "cannot be used" in page.folders_note.text()
    assert "(Not a directory)" in page.folders_note.text()  # the reason, in plain words
    stored.settings.update(models_folders=(default, str(extra)))
    assert not page.folders_note.isVisible()

    # Removing the extra folder leaves the default alone: nothing is stored, the default
    # keeps following the platform (and QUANTDESK_MODELS_DIR).
    folders.remove_button.click()
    assert folders.folders() == [default]
    assert saved(stored).models_folders == ()
    qtmodeltester.check(folders.model)  # type: ignore[attr-defined]


def test_library_added_folders_show_in_settings(qtbot: QtBot, stored: Services) -> None:
    page = open_page(qtbot, stored)
    stored.settings.update(models_folders=(str(stored.paths.models), "/from/the/library"))
    assert page.folder_list.folders() == [str(stored.paths.models), "/from/the/library"]


def test_offline_switch_is_shared_and_shows_when_forced(
    qtbot: QtBot, stored: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = open_page(qtbot, stored)
    assert not page.offline_check.isChecked()
    stored.offline.set_offline(True)  # flipped on another page (Discover)
    assert page.offline_check.isChecked()
    assert saved(stored).offline is True
    stored.offline.set_offline(False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    forced = open_page(qtbot, stored)
    assert forced.offline_check.isChecked() and not forced.offline_check.isEnabled()
    assert "HF_HUB_OFFLINE" in forced.offline_note.text()


def test_a_damaged_settings_file_gives_a_notice_and_is_kept(
    qtbot: QtBot, services: Services
) -> None:
    file = services.paths.config / SETTINGS_FILE_NAME
    file.write_text('{"schema_version": 1, "theme": ', encoding="utf-8")
    services.settings = SettingsStore.load(services.paths, services.pools.db)
    page = open_page(qtbot, services)
    assert page.notice.isVisible()
    assert "reset to their defaults" in page.notice.text()
    kept = list(services.paths.config.glob(f"{SETTINGS_FILE_NAME}.bad-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8").endswith('"theme": ')
    assert str(kept[0]) in page.notice.text()
    # The defaults were written back as a valid file.
    services.pools.db.waitForDone(TIMEOUT)
    assert json.loads(file.read_text(encoding="utf-8"))["schema_version"] == 1


def test_token_saved_masked_and_never_logged(
    qtbot: QtBot, stored: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = open_page(qtbot, stored)
    box = page.token_box
    assert "No token saved" in box.status.text()
    assert not box.remove_button.isEnabled()

    box.save_button.click()  # nothing typed
    assert box.message.isVisible() and "Paste a token first" in box.message.text()

    qtbot.keyClicks(box.edit, "not a token")
    box.save_button.click()
    qtbot.waitUntil(lambda: "Not saved" in box.message.text(), timeout=TIMEOUT)
    assert not (tmp_path / "hf" / "token").exists()

    box.edit.setText(TOKEN)
    box.save_button.click()
    qtbot.waitUntil(lambda: box.state is not None and box.state.present, timeout=TIMEOUT)
    assert (tmp_path / "hf" / "token").read_text() == TOKEN
    assert "hf_****abcd" in box.status.text()
    assert box.edit.text() == ""  # the field does not keep it
    assert TOKEN not in box.status.text() + box.status.toolTip() + box.message.text()
    assert box.remove_button.isEnabled()

    box.remove_button.click()
    qtbot.waitUntil(lambda: box.state is not None and not box.state.present, timeout=TIMEOUT)
    assert not (tmp_path / "hf" / "token").exists()
    assert TOKEN not in caplog.text


def test_token_from_the_environment_is_shown_locked(
    qtbot: QtBot, stored: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    page = open_page(qtbot, stored)
    box = page.token_box
    assert "HF_TOKEN environment variable" in box.status.text()
    assert "hf_****abcd" in box.status.text()
    assert not box.edit.isEnabled() and not box.save_button.isEnabled()


class _UrlRecorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


@pytest.fixture
def opened_urls() -> Iterator[_UrlRecorder]:
    """QDesktopServices hands file URLs to this recorder instead of the desktop."""
    recorder = _UrlRecorder()
    QDesktopServices.setUrlHandler("file", recorder, "open")
    yield recorder
    QDesktopServices.unsetUrlHandler("file")


def test_where_things_live_opens_each_folder(
    qtbot: QtBot, stored: Services, opened_urls: _UrlRecorder
) -> None:
    page = open_page(qtbot, stored)
    for key in ("models", "config", "data", "logs", "cache"):
        page.open_buttons[key].click()
    p = stored.paths
    assert [Path(u.toLocalFile()) for u in opened_urls.urls] == [
        p.models,
        p.config,
        p.data,
        p.logs,
        p.cache,
    ]
    assert page.place_labels["logs"].path() == str(p.logs)
    assert not page.open_message.isVisible()
    # A folder that is gone says so instead of doing nothing.
    assert not page.open_folder(p.data / "missing")
    assert page.open_message.isVisible() and "Could not open" in page.open_message.text()


def test_a_long_folder_path_is_elided_instead_of_scrolling_the_page(
    qtbot: QtBot, stored: Services, tmp_path: Path, qapp: QApplication
) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 12, "logs")
    deep.mkdir(parents=True)
    stored.paths = dataclasses.replace(stored.paths, logs=deep)
    page = open_page(qtbot, stored)
    page.resize(990, 740)
    scroll = page.findChild(QScrollArea)
    qtbot.waitUntil(lambda: scroll.viewport().width() <= 990)
    assert not scroll.horizontalScrollBar().isVisible()
    label = page.place_labels["logs"]
    assert label.path() == str(deep) and label.toolTip() == str(deep)
    # The middle gives way; the start and the folder's own name stay readable.
    assert "\N{HORIZONTAL ELLIPSIS}" in label.text() and label.text().endswith("logs")
    assert label.text().startswith(str(deep)[:4])
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width()
    copy = next(action for action in label.actions() if action.text() == "Copy path")
    copy.trigger()
    assert qapp.clipboard().text() == str(deep)


def test_theme_applies_live_and_both_palettes_are_readable(
    qtbot: QtBot, stored: Services, qapp: QApplication
) -> None:
    bind_theme(stored.settings, qapp)
    page = open_page(qtbot, stored)
    try:
        page.theme_combo.setCurrentIndex(page.theme_combo.findData("dark"))
        assert is_dark(qapp.palette())
        assert qapp.style().name().lower() == "fusion"
        for theme in ("dark", "light"):
            page.theme_combo.setCurrentIndex(page.theme_combo.findData(theme))
            pal = qapp.palette()
            for fg, bg in (
                (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
                (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
                (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
                (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
            ):
                assert _contrast(pal.color(fg), pal.color(bg)) >= 4.5, (theme, fg, bg)
        page.theme_combo.setCurrentIndex(page.theme_combo.findData("system"))
        assert saved(stored).theme is Theme.SYSTEM
        assert not is_dark(qapp.palette())  # the offscreen platform's own palette is light
    finally:
        apply_theme(qapp, "system")


def _contrast(a: object, b: object) -> float:
    def luminance(c: object) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, bl = (channel(x) for x in (c.redF(), c.greenF(), c.blueF()))  # type: ignore[attr-defined]
        return 0.2126 * r + 0.7152 * g + 0.0722 * bl

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_chat_model_bar_takes_default_context_and_threads(qtbot: QtBot, stored: Services) -> None:
    bar = ModelBar(stored.paths.models)
    qtbot.addWidget(bar)
    stored.settings.changed.connect(bar.apply_settings)
    stored.settings.update(default_context=8192, threads=2)
    assert bar.ctx_spin.value() == 8192 and bar.threads_spin.value() == 2
    bar.set_loaded(True, "loaded")
    stored.settings.update(default_context=2048)
    assert bar.ctx_spin.value() == 8192  # a loaded model keeps what it was loaded with


def test_chat_model_bar_threads_default_to_auto(qtbot: QtBot, stored: Services) -> None:
    bar = ModelBar(stored.paths.models)
    qtbot.addWidget(bar)
    stored.settings.changed.connect(bar.apply_settings)
    stored.settings.update(threads=3)
    assert bar.threads_spin.value() == 3
    stored.settings.update(threads=None)
    assert bar.threads_spin.value() == 0 and bar.threads_spin.text() == "Threads: auto"
    bar.select_path(str(stored.paths.models / "m.gguf"))
    with qtbot.waitSignal(bar.load_requested) as sent:
        qtbot.mouseClick(bar.load_button, Qt.MouseButton.LeftButton)
    assert sent.args[2] == 0  # the chat page loads with n_threads=None: tuned by the worker


def test_a_first_folder_unusable_at_start_says_why(
    qtbot: QtBot, stored: Services, tmp_path: Path
) -> None:
    # Stored by an earlier run; now a file stands where the folder should be (app.py fell back
    # to the default folder at start-up).
    blocker = tmp_path / "unplugged"
    blocker.write_text("not a folder")
    default = str(stored.paths.models)
    stored.settings.update(models_folders=(str(blocker / "models"), default))
    with qtbot.waitSignal(stored.models_folder.failed, timeout=TIMEOUT):
        stored.models_folder.bind(stored)
    page = open_page(qtbot, stored)
    assert str(stored.paths.models) == default
    assert page.folders_note.isVisible() and "New models still go to" in page.folders_note.text()
