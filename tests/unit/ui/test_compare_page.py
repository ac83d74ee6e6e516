"""The Compare page end to end: the real runner, one worker process per variant, tiny models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import psutil
import pytest
from compare_data import make_result
from gguf import GGUFReader
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.core.compare.results import CompareResult, PaneState
from desktop_app.ui.compare_documents import describe_plan
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.models.compare_summary_model import COLUMNS
from desktop_app.ui.pages.compare_page import ComparePage
from desktop_app.ui.services import Services
from desktop_app.ui.widgets.compare_setup import DEFAULT_PROMPT

pytestmark = pytest.mark.integration
TIMEOUT = 120_000
ENDLESS_PROMPT = "the the the the the the"


def open_compare(
    qtbot: QtBot, services: Services, paths: list[Path], *, planned: bool = True
) -> MainWindow:
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    # The way the Library hands a family over.
    window.library_page.open_in_compare.emit([str(p) for p in paths])
    page = window.compare_page
    assert window.pages.currentWidget() is page
    if planned:
        qtbot.waitUntil(lambda: page.setup.model.reference >= 0, timeout=30_000)
    return window  # the caller keeps it alive (qtbot holds only a weak reference)


def run_and_wait(qtbot: QtBot, page: ComparePage) -> CompareResult:
    with qtbot.waitSignal(page.bridge.finished, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(page.setup.run_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert isinstance(result, CompareResult)
    return result


def cell(page: ComparePage, label: str, column: str) -> str:
    model = page.quality.model
    for row in range(model.rowCount()):
        if model.result_at(row).info.label == label:
            return str(model.index(row, COLUMNS.index(column)).data())
    raise AssertionError(f"no row for {label}")


def compare_workers() -> list[psutil.Process]:
    """Model worker processes this test process spawned that are still running."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.is_running():
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_compare_two_bit_widths_then_export_and_continue_in_chat(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    window = open_compare(qtbot, services, [tiny_models["Q2_K"], tiny_models["F16"]])
    page = window.compare_page
    assert page.setup.model.reference == 1  # the highest precision, wherever it is listed
    assert "Side by side" in page.setup.plan_label.text()
    page.setup.max_tokens.setValue(24)
    result = run_and_wait(qtbot, page)

    assert not result.cancelled
    assert [p.state for p in page.panes.panes] == [PaneState.DONE, PaneState.DONE]
    for pane, variant in zip(page.panes.panes, result.variants, strict=True):
        assert not variant.failed
        assert [t.token_id for t in pane.view.tokens] == [t.token_id for t in variant.tokens]
        assert "tok/s" in pane.speed_label.text()
        assert "peak" in pane.facts_label.text()
    assert page.panes.panes[1].role_label.text() == "reference"
    assert page.status.text().startswith("Finished")

    # Quality: KLD > 0 for Q2_K, 0 for the reference; one heat strip (for the variant).
    q2 = result.variants[0].summary
    assert q2 is not None and q2.kld_mean is not None and q2.kld_mean > 0
    assert float(cell(page, "Q2_K", "KLD mean")) == pytest.approx(q2.kld_mean, abs=1e-4)
    assert float(cell(page, "Q2_K", "KLD mean")) > 0
    assert cell(page, "F16", "KLD mean") == "0.0000"
    assert cell(page, "F16", "PPL ratio") == "1.000"
    assert list(page.quality.strips) == [0]
    strip = page.quality.strips[0]
    assert len(strip.cells) == q2.n_tokens
    assert [c.kld for c in strip.cells] == pytest.approx(list(result.variants[0].rows.kld))  # type: ignore[union-attr]
    assert sorted(label for label, _x, _y in page.chart.plotted) == ["F16", "Q2_K"]
    qtbot.waitUntil(lambda: len(page.explainer.rows) == 7, timeout=10_000)
    assert [r.bits for r in page.explainer.rows] == [16, 8, 6, 5, 4, 3, 2]

    # Export: HTML with the chart embedded, and JSON, both carrying the numbers.
    with qtbot.waitSignal(page.export_finished, timeout=30_000) as exported:
        page.export_report(tmp_path / "report")
    html_path, json_path = (Path(p) for p in exported.args[0])
    assert html_path.name == "report.html" and json_path.name == "report.json"
    html = html_path.read_text(encoding="utf-8")
    assert "data:image/png;base64," in html
    assert "Q2_K" in html and f"{q2.kld_mean:.4f}" in html
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["reference"] == str(tiny_models["F16"])
    by_quant = {v["quant"]: v for v in data["variants"]}
    assert by_quant["Q2_K"]["kld_mean"] == pytest.approx(q2.kld_mean, rel=1e-4)
    assert by_quant["F16"]["kld_mean"] == 0

    # Continue in Chat: the reference model selected, the conversation carried over.
    assert page.chat_button.isEnabled()
    qtbot.mouseClick(page.chat_button, Qt.MouseButton.LeftButton)
    chat = window.chat_page
    assert window.pages.currentWidget() is chat
    assert chat.model_bar.current_path() == str(tiny_models["F16"])
    qtbot.waitUntil(lambda: len(chat.session.history()) == 2, timeout=10_000)
    roles = [(e.role, e.content) for e in chat.session.history()]
    assert roles == [
        ("user", DEFAULT_PROMPT),
        ("assistant", result.reference.text),
    ]

    # The same comparison again is answered from the cache: same view, no worker.
    window.pages.setCurrentWidget(page)
    qtbot.mouseClick(page.setup.new_button, Qt.MouseButton.LeftButton)  # not a follow-up
    page.setup.prompt.setPlainText(DEFAULT_PROMPT)
    again = run_and_wait(qtbot, page)
    assert all(v.from_cache for v in again.variants)
    assert [t.token_id for t in page.panes.panes[0].view.tokens] == [
        t.token_id for t in result.variants[0].tokens
    ]
    assert [p.state for p in page.panes.panes] == [PaneState.DONE, PaneState.DONE]
    window.close()
    assert compare_workers() == []


def test_cancel_stops_every_pane_at_once(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_compare(qtbot, services, [tiny_models["F16"], tiny_models["Q4_K_M"]])
    page = window.compare_page
    page.setup.prompt.setPlainText(ENDLESS_PROMPT)
    page.setup.max_tokens.setValue(4000)
    page.setup.n_ctx.setValue(4096)
    qtbot.mouseClick(page.setup.run_button, Qt.MouseButton.LeftButton)
    assert page.setup.cancel_button.isEnabled() and not page.setup.run_button.isEnabled()
    qtbot.waitUntil(lambda: all(len(p.view.tokens) >= 3 for p in page.panes.panes), timeout=TIMEOUT)
    with qtbot.waitSignal(page.bridge.finished, timeout=30_000) as blocker:
        qtbot.keyClick(page.setup.cancel_button, Qt.Key.Key_Escape)  # Esc cancels
    result = blocker.args[0]
    assert result.cancelled
    assert all(v.error_code == "cancelled" for v in result.variants)
    assert [p.state for p in page.panes.panes] == [PaneState.CANCELLED] * 2
    assert page.status.text() == "Cancelled."
    assert page.setup.run_button.isEnabled() and not page.setup.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: compare_workers() == [], timeout=10_000)


def break_tokenizer(source: Path, target: Path) -> Path:
    """A copy whose header is valid GGUF but names a tokenizer llama.cpp does not know: the
    plan reads it fine, the load fails (a per-pane fault, not a refused comparison)."""
    shutil.copy(source, target)
    reader = GGUFReader(target)
    field = reader.fields["tokenizer.ggml.model"]
    part = field.parts[field.data[0]]
    offset = part.ctypes.data - reader.data.ctypes.data
    size = len(part)
    del reader, field, part
    data = np.memmap(target, mode="r+")
    data[offset : offset + size] = np.frombuffer(b"x" * size, dtype=np.uint8)
    data.flush()
    del data
    return target


@pytest.mark.allow_log_errors  # the worker logs llama.cpp's own load error
def test_a_broken_variant_fails_in_its_pane_while_the_other_finishes(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    broken = break_tokenizer(tiny_models["Q8_0"], tmp_path / "broken-Q8_0.gguf")
    window = open_compare(qtbot, services, [tiny_models["F16"], broken])
    page = window.compare_page
    page.setup.max_tokens.setValue(16)
    result = run_and_wait(qtbot, page)
    ok, failed = result.variants
    assert not ok.failed and ok.summary is not None
    assert failed.error_code == "load_failed"
    good_pane, bad_pane = page.panes.panes
    assert good_pane.state == PaneState.DONE and len(good_pane.view.tokens) > 0
    assert bad_pane.state == PaneState.FAILED
    assert bad_pane.error_label.isVisibleTo(bad_pane)
    assert "llama.cpp could not load this model" in bad_pane.error_label.text().lower()
    assert "unknown tokenizer" in bad_pane.error_label.text()
    assert page.status.text().startswith("Finished; 1 of 2 variants failed.")
    assert cell(page, "Q8_0", "Variant") == "Q8_0 (failed)"
    assert page.export_button.isEnabled()


def test_unreadable_file_is_refused_before_anything_runs(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_models["Q2_K"].read_bytes()[:50_000])
    window = open_compare(qtbot, services, [tiny_models["F16"]], planned=False)
    page = window.compare_page
    assert "Add 2 to 4" in page.setup.plan_label.text()
    assert page.setup.spec() == "Add at least two files to compare."
    page.setup.add_paths([str(truncated)])
    qtbot.waitUntil(lambda: "Cannot compare" in page.setup.plan_label.text(), timeout=30_000)
    assert "incomplete" in page.setup.plan_label.text() or "past the end" in (
        page.setup.plan_label.text()
    )
    with qtbot.waitSignal(page.bridge.failed, timeout=30_000) as blocker:
        qtbot.mouseClick(page.setup.run_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is not None
    assert page.banner.isVisibleTo(page) and "could not start" in page.banner.text()
    assert page.setup.run_button.isEnabled()
    assert compare_workers() == []


def test_plan_words() -> None:
    plan = make_result().plan
    assert describe_plan(plan).startswith("Side by side: all 3 files fit")


def test_score_a_sample_text(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_compare(qtbot, services, [tiny_models["F16"], tiny_models["Q4_K_M"]])
    page = window.compare_page
    setup = page.setup
    qtbot.waitUntil(lambda: setup.text_combo.count() > 0, timeout=10_000)  # read off-thread
    setup.mode_combo.setCurrentIndex(1)
    setup.n_ctx.setValue(256)
    setup.text_combo.setCurrentIndex(0)
    text = setup.selected_text()
    assert text and "characters" in setup.text_info.text()
    result = run_and_wait(qtbot, page)
    assert result.spec.text == text and result.spec.max_chunks is not None
    ref, q4 = result.variants
    assert ref.tokens == () and q4.tokens == ()  # nothing generated: the text is scored
    assert q4.summary is not None and q4.summary.kld_mean is not None
    assert q4.summary.kld_mean > 0 and q4.summary.n_tokens > 100
    assert [p.state for p in page.panes.panes] == [PaneState.DONE, PaneState.DONE]
    assert "Scored" in page.panes.panes[1].speed_label.text()
    assert len(page.quality.strips[1].cells) == q4.summary.n_tokens
    # The preview shows the scored tokens (the second half of each chunk), as the strips do.
    preview = page.quality.text_view.toPlainText()
    assert preview and preview == "".join(result.scored_texts)[: len(preview)]
    assert len(result.scored_texts) == q4.summary.n_tokens
    assert not page.chat_button.isEnabled()  # no conversation to carry on


def test_closing_the_window_mid_run_ends_the_workers(
    qtbot: QtBot, services: Services, tiny_models: dict[str, Path]
) -> None:
    window = open_compare(qtbot, services, [tiny_models["F16"], tiny_models["Q2_K"]])
    page = window.compare_page
    assert page.setup.model.reference == 0
    page.setup.reference_combo.setCurrentIndex(2)  # "Highest precision", then each file
    qtbot.waitUntil(lambda: page.setup.model.reference == 1, timeout=30_000)
    page.setup.prompt.setPlainText(ENDLESS_PROMPT)
    page.setup.max_tokens.setValue(4000)
    page.setup.n_ctx.setValue(4096)
    page.run()
    qtbot.waitUntil(lambda: len(page.panes.panes[0].view.tokens) >= 3, timeout=TIMEOUT)
    assert page.panes.panes[1].role_label.text() == "reference"
    assert compare_workers()
    window.close()  # MainWindow.closeEvent -> ComparePage.shutdown: waits for the workers
    assert not page.bridge.running or page.bridge.shutdown(0)
    qtbot.waitUntil(lambda: compare_workers() == [], timeout=10_000)
