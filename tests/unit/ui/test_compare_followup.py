"""Follow-up turns on the Compare page, end to end: the real runner, tiny models, real Chat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.core.compare.results import CompareResult, PaneState
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.pages.compare_page import ComparePage
from desktop_app.ui.services import Services

pytestmark = pytest.mark.integration
TIMEOUT = 120_000
ENDLESS_PROMPT = "the the the the the the"


def open_compare(qtbot: QtBot, services: Services, paths: list[Path]) -> MainWindow:
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.library_page.open_in_compare.emit([str(p) for p in paths])
    qtbot.waitUntil(lambda: window.compare_page.setup.model.reference >= 0, timeout=30_000)
    return window


def run_and_wait(qtbot: QtBot, page: ComparePage) -> CompareResult:
    with qtbot.waitSignal(page.bridge.finished, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(page.setup.run_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert isinstance(result, CompareResult)
    return result


def cancel_mid_reply(qtbot: QtBot, page: ComparePage) -> CompareResult:
    qtbot.mouseClick(page.setup.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(len(p.view.tokens) >= 3 for p in page.panes.panes), timeout=TIMEOUT)
    with qtbot.waitSignal(page.bridge.finished, timeout=30_000) as blocker:
        qtbot.mouseClick(page.setup.cancel_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert isinstance(result, CompareResult) and result.cancelled
    return result


def offers_follow_up(page: ComparePage) -> bool:
    setup = page.setup
    offered = setup.run_button.text() == "Send follow-up"
    assert offered == setup.following_up == setup.new_button.isVisibleTo(setup)
    assert setup.prompt.placeholderText() == (
        "Follow-up…" if offered else "The prompt every variant answers"
    )
    return offered


def test_follow_up_keeps_every_pane_in_the_reference_conversation_then_chat(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    window = open_compare(qtbot, services, [tiny_models["Q2_K"], tiny_models["F16"]])
    page = window.compare_page
    setup = page.setup
    setup.max_tokens.setValue(16)
    setup.system_prompt.setText("You tell short stories.")
    setup.prompt.setPlainText("Once upon a time")
    assert not offers_follow_up(page)
    first = run_and_wait(qtbot, page)
    assert not first.cancelled and first.reference.text
    assert page.status.text().startswith("Finished.")

    # A follow-up is offered: empty box, Send follow-up, New comparison; the input kind and
    # the system prompt belong to the conversation now.
    assert offers_follow_up(page)
    assert setup.prompt.toPlainText() == ""
    assert not setup.mode_combo.isEnabled() and not setup.system_prompt.isEnabled()
    assert "follow-up" in page.status.text()
    assert page.conversation.isVisibleTo(page)
    assert [(t.number, t.question, t.reply) for t in page.conversation.turns] == [
        (1, "Once upon a time", first.reference.text)
    ]
    assert setup.spec(page._history) == "Write a follow-up first."

    setup.prompt.setPlainText("And then the dog")
    second = run_and_wait(qtbot, page)
    messages = second.spec.messages
    assert messages is not None
    assert [(m.role, m.content) for m in messages] == [
        ("system", "You tell short stories."),
        ("user", "Once upon a time"),
        ("assistant", first.reference.text),  # the reference's reply, for every variant
        ("user", "And then the dog"),
    ]
    assert not second.cancelled
    assert [p.state for p in page.panes.panes] == [PaneState.DONE, PaneState.DONE]
    assert all(not v.failed and v.tokens for v in second.variants)
    for pane, variant in zip(page.panes.panes, second.variants, strict=True):
        assert [t.token_id for t in pane.view.tokens] == [t.token_id for t in variant.tokens]
    q2 = second.variants[0].summary
    assert q2 is not None and q2.kld_mean is not None and q2.kld_mean > 0
    shown = page.conversation.plain_text()
    assert [t.number for t in page.conversation.turns] == [1, 2]
    assert page.conversation.turns[1].reply == second.reference.text
    for piece in ("You tell short stories.", "Turn 1 · you", "Turn 2 · you", "And then the dog"):
        assert piece in shown
    assert "Turn 2 · reference (F16)" in shown
    assert page.conversation.toggle.text() == "Conversation (2 turns)"
    assert offers_follow_up(page)  # and a third turn would be offered too

    # The report of the latest turn carries the earlier turn as its context.
    with qtbot.waitSignal(page.export_finished, timeout=30_000) as exported:
        page.export_report(tmp_path / "turn2")
    html_path, json_path = (Path(p) for p in exported.args[0])

    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["prompt"] == "And then the dog"
    assert [(c["turn"], c["role"]) for c in data["conversation"]] == [
        (0, "system"),
        (1, "user"),
        (1, "assistant"),
        (2, "user"),
    ]
    assert "Conversation so far" in html_path.read_text(encoding="utf-8")

    # Continue in Chat: every turn, with the reference's replies, in the chat store.
    assert page.chat_button.isEnabled()
    qtbot.mouseClick(page.chat_button, Qt.MouseButton.LeftButton)
    chat = window.chat_page
    assert window.pages.currentWidget() is chat
    assert chat.model_bar.current_path() == str(tiny_models["F16"])
    qtbot.waitUntil(lambda: len(chat.session.history()) == 4, timeout=10_000)
    assert [(e.role, e.content) for e in chat.session.history()] == [
        ("user", "Once upon a time"),
        ("assistant", first.reference.text),
        ("user", "And then the dog"),
        ("assistant", second.reference.text),
    ]
    conv = chat.session.conversation
    assert conv is not None and conv.system_prompt == "You tell short stories."
    assert conv.settings == {"from": "compare", "turns": 2}

    # New comparison: the conversation and its results are gone, the files stay.
    qtbot.mouseClick(setup.new_button, Qt.MouseButton.LeftButton)
    assert not offers_follow_up(page)
    assert page._history == ()
    assert not page.conversation.isVisibleTo(page) and page.conversation.turns == []
    assert page.result is None and page.panes.panes == []
    assert not page.chat_button.isEnabled() and not page.export_button.isEnabled()
    assert setup.system_prompt.isEnabled() and setup.mode_combo.isEnabled()
    assert len(setup.model.paths) == 2

    # The first turn again comes from the cache (keyed on the whole conversation): the same
    # follow-up does too, a different follow-up does not.
    setup.prompt.setPlainText("Once upon a time")
    again = run_and_wait(qtbot, page)
    assert again.spec.messages is not None and len(again.spec.messages) == 2
    assert all(v.from_cache for v in again.variants)
    setup.prompt.setPlainText("And then the dog")
    assert all(v.from_cache for v in run_and_wait(qtbot, page).variants)
    setup.prompt.setPlainText("And then the cat")
    third = run_and_wait(qtbot, page)
    assert not any(v.from_cache for v in third.variants)
    assert third.spec.messages is not None and len(third.spec.messages) == 6
    assert [t.number for t in page.conversation.turns] == [1, 2, 3]

    # Changing the sampler starts over, and says so.
    setup.preset.setCurrentText(
        "Balanced" if setup.preset.findText("Balanced") >= 0 else "Creative"
    )
    assert not offers_follow_up(page)
    assert "the sampler changed" in page.status.text()
    assert page._history == ()
    window.close()


def test_no_follow_up_after_a_cancelled_run_or_a_text(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_compare(qtbot, services, [tiny_models["F16"], tiny_models["Q4_K_M"]])
    page = window.compare_page
    setup = page.setup
    setup.prompt.setPlainText(ENDLESS_PROMPT)
    setup.max_tokens.setValue(4000)
    setup.n_ctx.setValue(4096)
    cancel_mid_reply(qtbot, page)
    assert not offers_follow_up(page)
    assert setup.prompt.toPlainText() == ENDLESS_PROMPT  # the prompt stays, to run again
    assert page.status.text() == "Cancelled."

    qtbot.waitUntil(lambda: setup.text_combo.count() > 0, timeout=10_000)
    setup.mode_combo.setCurrentIndex(1)
    setup.n_ctx.setValue(256)
    result = run_and_wait(qtbot, page)
    assert result.spec.text is not None and not result.cancelled
    assert not offers_follow_up(page)
    assert not page.conversation.isVisibleTo(page)
    assert not page.chat_button.isEnabled()
    window.close()


def test_a_cancelled_follow_up_leaves_the_conversation_as_it_was(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_compare(qtbot, services, [tiny_models["F16"], tiny_models["Q2_K"]])
    page = window.compare_page
    setup = page.setup
    setup.max_tokens.setValue(12)
    setup.n_ctx.setValue(4096)
    setup.prompt.setPlainText("Lily went to the park")
    first = run_and_wait(qtbot, page)
    assert offers_follow_up(page)
    history = page._history
    assert len(history) == 2

    setup.max_tokens.setValue(4000)  # not the sampler: the conversation goes on
    assert offers_follow_up(page)
    setup.prompt.setPlainText(ENDLESS_PROMPT)
    assert page.setup.run_button.isEnabled()
    cancelled = cancel_mid_reply(qtbot, page)
    assert cancelled.spec.messages is not None and len(cancelled.spec.messages) == 3
    assert page._history == history
    assert offers_follow_up(page)  # the question is back in the box, to send again
    assert setup.prompt.toPlainText() == ENDLESS_PROMPT
    assert "as it was" in page.status.text()
    assert [t.number for t in page.conversation.turns] == [1]

    # Continue in Chat carries the complete turn, not the cancelled one.
    with qtbot.waitSignal(page.continue_in_chat, timeout=5_000) as carried:
        qtbot.mouseClick(page.chat_button, Qt.MouseButton.LeftButton)
    doc = carried.args[1]
    assert [(m["role"], m["content"]) for m in doc["messages"]] == [
        ("user", "Lily went to the park"),
        ("assistant", first.reference.text),
    ]

    # Choosing another reference starts over, and says so.
    window.pages.setCurrentWidget(page)
    setup.reference_combo.setCurrentIndex(2)  # the Q2_K file
    assert "the reference changed" in page.status.text()
    assert not offers_follow_up(page) and page._history == ()
    qtbot.waitUntil(lambda: setup.model.reference == 1, timeout=30_000)
    window.close()
