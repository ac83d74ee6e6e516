"""The welcome on first start: machine memory, three catalog models that fit, skippable, once."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop_app.app import create_window
from desktop_app.core.fit import GIB
from desktop_app.core.hub.catalog import load_catalog
from desktop_app.core.settings import load_settings
from desktop_app.core.suggestions import suggest_models
from desktop_app.ui.first_run import FirstRunDialog, show_first_run_if_needed
from desktop_app.ui.services import Services
from desktop_app.ui.settings_store import SettingsStore

TIMEOUT = 10_000


@pytest.fixture
def stored(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    services.settings = SettingsStore.load(services.paths, services.pools.db)
    return services


def test_welcome_shows_memory_and_three_models_that_fit(qtbot: QtBot, stored: Services) -> None:
    dialog = FirstRunDialog(stored)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.facts is not None, timeout=TIMEOUT)
    text = dialog.memory_label.text()
    assert "of memory" in text and "free now" in text
    names = dialog.suggestion_names()
    catalog = {e.repo_id for e in load_catalog()}
    assert dialog.facts is not None
    expected = suggest_models(load_catalog(), dialog.facts.memory.available)
    assert names == [s.entry.repo_id for s in expected] and set(names) <= catalog
    if dialog.facts.memory.available > 4 * GIB:
        assert len(names) == 3

    def shown() -> str:
        return "\n".join(
            w.text()
            for w in dialog.suggestions_box.findChildren(type(dialog.memory_label))
            if not w.isHidden()
        )

    # Labels added to a visible dialog are shown by a queued call: wait for it.
    qtbot.waitUntil(lambda: all(name in shown() for name in names), timeout=TIMEOUT)
    assert "GiB" in shown() or "MiB" in shown()  # sizes are shown
    assert str(stored.paths.models) in "\n".join(
        w.text() for w in dialog.findChildren(type(dialog.memory_label))
    )


def test_skip_marks_it_done_and_it_never_shows_again(qtbot: QtBot, stored: Services) -> None:
    parent = create_window(stored)  # the test window itself never shows the welcome
    qtbot.addWidget(parent)
    # Dialogs of earlier tests may linger closed until Qt deletes them: only a visible one counts.
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, FirstRunDialog)]
    assert not [w for w in shown if w.isVisible()]
    dialog = show_first_run_if_needed(stored, parent)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.facts is not None, timeout=TIMEOUT)
    dialog.skip_button.click()
    assert stored.settings.settings.first_run_done
    stored.pools.db.waitForDone(TIMEOUT)
    assert load_settings(stored.paths).settings.first_run_done
    assert show_first_run_if_needed(stored, parent) is None


def test_offline_switch_in_the_welcome_is_the_shared_one(qtbot: QtBot, stored: Services) -> None:
    dialog = FirstRunDialog(stored)
    qtbot.addWidget(dialog)
    dialog.offline_check.setChecked(True)
    assert stored.offline.is_offline() and stored.settings.settings.offline
    dialog.start_button.click()
    assert stored.settings.settings.first_run_done
    qtbot.waitUntil(lambda: dialog.facts is not None, timeout=TIMEOUT)  # no late callback
