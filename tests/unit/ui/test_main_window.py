"""The window as a user meets it: sidebar, machine facts, opening good and bad model files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.core.fit import Verdict
from desktop_app.ui.main_window import PLANNED_PAGES, MainWindow
from desktop_app.ui.services import Services


def make_window(qtbot: QtBot, services: Services) -> MainWindow:
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.start()
    return window


def test_sidebar_lists_every_page_and_disables_unbuilt_ones(
    qtbot: QtBot, services: Services
) -> None:
    window = make_window(qtbot, services)
    names = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    built = window.pages.count()  # working pages first, in sidebar order, then planned ones
    order = ["This machine", "Model file", "Library", "Discover", "Chat", "Compare", "Convert"]
    order += ["Downloads", "Settings"]
    assert names[:built] == [n for n in order if n not in PLANNED_PAGES]
    assert names[built:] == list(PLANNED_PAGES)
    for i in range(built, window.sidebar.count()):
        assert not window.sidebar.item(i).flags() & Qt.ItemFlag.ItemIsEnabled
    window.sidebar.setCurrentRow(1)
    assert window.pages.currentWidget() is window.model_page
    assert "RAM" in window.memory_label.text()
    qtbot.waitUntil(lambda: window.machine_page.guide_view.model().rowCount() > 0, timeout=15000)


def test_machine_page_shows_facts_and_what_fits(
    qtbot: QtBot, services: Services, qtmodeltester: object
) -> None:
    window = make_window(qtbot, services)
    page = window.machine_page
    model = page.guide_view.model()
    qtbot.waitUntil(lambda: model.rowCount() == 8, timeout=15000)
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert "available" in page._fields["ram"].text()
    assert "physical" in page._fields["cores"].text()
    # A tiny model fits anywhere this suite runs; a 70B at 16 bits does not.
    first = model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    last = model.index(7, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "fits" in first
    assert "does not fit" in last


def test_open_model_shows_facts_and_live_fit(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path], qtmodeltester: object
) -> None:
    window = make_window(qtbot, services)
    page = window.model_page
    page.open_path(str(tiny_models["Q4_K_M"]))
    qtbot.waitUntil(lambda: page.verdict.text() != "", timeout=10000)
    assert page._fact_labels["quant"].text().startswith("Q4_K_M")
    assert page._fact_labels["arch"].text() == "llama"
    assert page.verdict.text() == "Fits"
    first = page.breakdown.text()
    assert "KV cache" in first
    # Moving the slider re-prices the model off the GUI thread.
    page.ctx_slider.setValue(page.ctx_slider.minimum())
    qtbot.waitUntil(lambda: page.breakdown.text() != first, timeout=10000)
    assert page.ctx_value.text() == "256 tokens"
    model = page.quant_model
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    labels = [model.row_at(r).file_type.label for r in range(model.rowCount())]
    assert "Q8_0" in labels and "IQ2_XXS" in labels
    current = [model.row_at(r) for r in range(model.rowCount()) if model.row_at(r).is_current]
    assert [r.file_type.label for r in current] == ["Q4_K_M"]
    assert all(model.row_at(r).verdict is Verdict.FITS for r in range(model.rowCount()))


def test_bad_file_shows_a_message_and_the_app_keeps_running(
    qtbot: QtBot, services: Services, tmp_path: Path, tiny_gguf: Path
) -> None:
    window = make_window(qtbot, services)
    page = window.model_page
    bad = tmp_path / "renamed.gguf"
    bad.write_text("this is a text file, not a model")
    page.open_path(str(bad))
    qtbot.waitUntil(lambda: page.status.text().startswith("Could not open"), timeout=10000)
    assert "not a GGUF file" in page.status.text()
    assert page.open_button.isEnabled()
    # Nothing is lost: a good file opens right after.
    page.open_path(str(tiny_gguf))
    qtbot.waitUntil(lambda: page.verdict.text() == "Fits", timeout=10000)


def test_settle_heap_freezes_start_up_objects_and_raises_thresholds() -> None:
    import gc

    from desktop_app.app import GC_THRESHOLDS, settle_heap

    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:  # the test process keeps Python's defaults
        gc.unfreeze()
        gc.set_threshold(*before)
