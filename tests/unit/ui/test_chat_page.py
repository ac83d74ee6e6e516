"""The Chat page end to end: a real worker process on a tiny model, history in real SQLite."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.core.chat_store import ChatStore
from desktop_app.core.engine.protocol import SAMPLING_PRESETS, Done, Failed, Loaded
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.pages.chat_page import ChatPage
from desktop_app.ui.services import Services

pytestmark = pytest.mark.integration
TIMEOUT = 60_000
ENDLESS_PROMPT = "the the the the the the"


def open_chat(qtbot: QtBot, services: Services, model: Path) -> MainWindow:
    window = MainWindow(services)
    qtbot.addWidget(window)
    return open_chat_in(qtbot, window, model)


def open_chat_in(qtbot: QtBot, window: MainWindow, model: Path) -> MainWindow:
    window.show_page(window.chat_page)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    page = window.chat_page
    page.model_bar.select_path(str(model))
    with qtbot.waitSignal(
        page.bridge.event_received, timeout=TIMEOUT, check_params_cb=lambda e: isinstance(e, Loaded)
    ):
        page.model_bar.load_button.click()
    assert page.send_button.isEnabled()
    return window  # the caller keeps it alive (qtbot holds only a weak reference)


def send_and_wait(qtbot: QtBot, page: ChatPage, text: str) -> Done:
    page.input.setPlainText(text)
    with qtbot.waitSignal(
        page.bridge.event_received, timeout=TIMEOUT, check_params_cb=lambda e: isinstance(e, Done)
    ) as blocker:
        page.send()
    return blocker.args[0]


def stored_messages(services: Services) -> list[tuple[str, str, str]]:
    services.pools.db.waitForDone(10_000)
    with ChatStore.open(services.paths.data / "chat_history.sqlite3") as store:
        convs = store.list_conversations()
        assert len(convs) == 1
        return [(m.role, m.content, m.state) for m in store.messages(convs[0].id)]


def test_chat_streams_and_saves(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_chat(qtbot, services, tiny_models["Q8_0"])
    page = window.chat_page
    page.preset.setCurrentText("Precise")
    done = send_and_wait(qtbot, page, "hello world \u05e9\u05dc\u05d5\u05dd \U0001f600")
    assert done.stats.generated_tokens > 0
    assert page._views[-1].text == done.text
    assert "tok/s" in page.reply_stats.text()
    assert page.gauge.value() > 0
    assert "Weights in the model process's own memory" in page.model_bar.status.toolTip()
    window.close()  # saves and ends the worker
    rows = stored_messages(services)
    assert rows[0] == ("user", "hello world \u05e9\u05dc\u05d5\u05dd \U0001f600", "complete")
    assert rows[1][0] == "assistant"
    assert rows[1][1] == done.text
    assert rows[1][2] == "complete"


def test_load_uses_the_kv_cache_type_from_settings(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    services.settings.update(default_kv_type="q8_0")
    loaded: list[Loaded] = []
    window = MainWindow(services)
    qtbot.addWidget(window)
    bridge = window.chat_page.bridge
    bridge.event_received.connect(lambda e: loaded.append(e) if isinstance(e, Loaded) else None)
    open_chat_in(qtbot, window, tiny_models["Q8_0"])
    assert [e.info.kv_type for e in loaded] == ["q8_0"]
    window.close()


def test_load_maps_the_file_when_settings_say_so(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    loaded: list[Loaded] = []
    tooltips: list[str] = []
    for mapped in (False, True):
        services.settings.update(map_model_files=mapped)
        window = MainWindow(services)
        qtbot.addWidget(window)
        bridge = window.chat_page.bridge
        bridge.event_received.connect(lambda e: loaded.append(e) if isinstance(e, Loaded) else None)
        open_chat_in(qtbot, window, tiny_models["Q8_0"])
        tooltips.append(window.chat_page.model_bar.status.toolTip())
        window.close()
    assert [e.info.use_mmap for e in loaded] == [False, True]
    assert "own memory" in tooltips[0] and "mapped from the file" in tooltips[1]


def use_endless_preset(page: ChatPage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replies that run until stopped (or the context is full), so a test can interrupt one:
    greedy, so with an ENDLESS_PROMPT the tiny model never picks its end token."""
    endless = replace(SAMPLING_PRESETS["Precise"], max_tokens=1_000_000)
    monkeypatch.setitem(SAMPLING_PRESETS, "Endless", endless)
    page.preset.addItem("Endless")
    page.preset.setCurrentText("Endless")


def test_stop_keeps_the_partial_reply(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_chat(qtbot, services, tiny_models["F16"])
    page = window.chat_page
    use_endless_preset(page, monkeypatch)
    page.input.setPlainText(ENDLESS_PROMPT)
    with qtbot.waitSignal(
        page.bridge.event_received, timeout=TIMEOUT, check_params_cb=lambda e: isinstance(e, Done)
    ) as blocker:
        with qtbot.waitSignal(page.bridge.tokens_arrived, timeout=TIMEOUT):
            page.send()
        qtbot.keyClick(page.input, Qt.Key.Key_Escape)  # Esc stops
    assert blocker.args[0].stats.finish_reason == "cancelled"
    assert "stopped" in page.reply_stats.text()
    window.close()
    rows = stored_messages(services)
    assert rows[-1][0] == "assistant"
    assert rows[-1][2] == "interrupted"


def test_regenerate_and_edit_last(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_chat(qtbot, services, tiny_models["Q4_K_M"])
    page = window.chat_page
    page.preset.setCurrentText("Precise")
    first = send_and_wait(qtbot, page, "first question")
    with qtbot.waitSignal(
        page.bridge.event_received, timeout=TIMEOUT, check_params_cb=lambda e: isinstance(e, Done)
    ) as blocker:
        page.regenerate()
    assert blocker.args[0].text == first.text  # greedy: same answer again
    assert [v.role for v in page._views] == ["user", "assistant"]
    page.edit_last()
    assert page.input.toPlainText() == "first question"
    assert page._views == []
    send_and_wait(qtbot, page, "second question")
    window.close()
    rows = stored_messages(services)
    assert [(r[0], r[1]) for r in rows][:1] == [("user", "second question")]
    assert len(rows) == 2


@pytest.mark.allow_log_errors
def test_worker_crash_is_reported_and_the_app_keeps_running(
    qtbot: QtBot,
    services: Services,
    tiny_models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = open_chat(qtbot, services, tiny_models["F16"])
    page = window.chat_page
    use_endless_preset(page, monkeypatch)
    page.input.setPlainText(ENDLESS_PROMPT)
    with qtbot.waitSignal(
        page.bridge.event_received, timeout=TIMEOUT, check_params_cb=lambda e: isinstance(e, Failed)
    ):
        with qtbot.waitSignal(page.bridge.tokens_arrived, timeout=TIMEOUT):
            page.send()
        pid = page.bridge.worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    assert "stopped unexpectedly" in page.banner.text()
    assert not page.send_button.isEnabled()
    # Load again: a fresh worker process, and chatting continues.
    with qtbot.waitSignal(
        page.bridge.event_received, timeout=TIMEOUT, check_params_cb=lambda e: isinstance(e, Loaded)
    ):
        page.model_bar.load_button.click()
    page.preset.setCurrentText("Precise")
    send_and_wait(qtbot, page, "still there?")


def test_bad_model_file_shows_a_banner(qtbot: QtBot, services: Services, tmp_path: Path) -> None:
    window = MainWindow(services)
    qtbot.addWidget(window)
    page = window.chat_page
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    page.model_bar.select_path(str(bad))
    page.model_bar.load_button.click()
    qtbot.waitUntil(lambda: not page.banner.isHidden(), timeout=TIMEOUT)
    assert "Could not load the model" in page.banner.text()
    assert page.model_bar.load_button.isEnabled()
    window.close()
