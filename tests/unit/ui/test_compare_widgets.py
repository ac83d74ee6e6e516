"""Compare's widgets and item models with real result objects (the runner's dataclasses)."""

from __future__ import annotations

import numpy as np
import pytest
from compare_data import GIB, REFERENCE_WORDS, make_result, make_tokens
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QTextCursor
from pytestqt.qtbot import QtBot

from desktop_app.core.compare.results import PaneState
from desktop_app.core.engine.protocol import Token, TopToken
from desktop_app.ui.models.compare_summary_model import COLUMNS, CompareSummaryModel
from desktop_app.ui.models.compare_variants_model import CompareVariantsModel
from desktop_app.ui.widgets.compare_chart import QualityChart, chart_points
from desktop_app.ui.widgets.compare_colors import kld_color, kld_level, probability_tint
from desktop_app.ui.widgets.compare_heat_strip import HeatStrip, heat_cells
from desktop_app.ui.widgets.compare_panes import ComparePanes
from desktop_app.ui.widgets.compare_token_view import (
    TokenView,
    alternatives_html,
    first_divergence,
)

# --- colours -------------------------------------------------------------------------------


def test_probability_tint_grows_stronger_and_redder_as_the_model_doubts() -> None:
    sure, unsure = probability_tint(0.99), probability_tint(0.05)
    assert unsure.alpha() > sure.alpha()
    assert unsure.red() > unsure.green()  # doubt reads as red
    assert sure.green() > sure.red()  # confidence as green
    assert probability_tint(float("nan")).alpha() == probability_tint(0.0).alpha()
    assert probability_tint(2.0) == probability_tint(1.0)  # clamped


def test_kld_scale_is_logarithmic_and_clamped() -> None:
    assert kld_level(0.0) == 0.0
    assert kld_level(1e-5) == 0.0
    assert kld_level(0.01) == pytest.approx(0.5)
    assert kld_level(5.0) == 1.0
    assert kld_color(0.0) != kld_color(0.05) != kld_color(3.0)


# --- token view ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "other", "finished", "expected"),
    [
        ([1, 2, 3], [1, 2, 3], False, None),
        ([1, 2, 3], [1, 2, 3], True, None),
        ([1, 2, 3], [1, 9, 3], False, 1),
        ([1, 2, 3], [7], False, 0),
        ([1, 2, 3], [1, 2], False, None),  # still streaming: not departed yet
        ([1, 2, 3], [1, 2], True, 2),  # ended early
        ([1, 2], [1, 2, 3, 4], True, 2),  # ran on
        ([], [], True, None),
    ],
)
def test_first_divergence(
    reference: list[int], other: list[int], finished: bool, expected: int | None
) -> None:
    assert first_divergence(reference, other, finished=finished) == expected


def test_token_view_tints_each_token_by_its_probability(qtbot: QtBot) -> None:
    view = TokenView()
    qtbot.addWidget(view)
    tokens = [
        Token(1, 10, "Sure", 0.97),
        Token(1, 11, " maybe", 0.2),
        Token(1, 12, "", 0.5),  # half a character: no text of its own
        Token(1, 13, "\U0001f600\n", 0.6),
        Token(1, 14, " end", 0.8),
    ]
    view.append_tokens(tokens[:2])
    view.append_tokens(tokens[2:])
    assert view.toPlainText() == "Sure maybe\U0001f600\n end"
    for i in (0, 1, 3, 4):
        assert view.tint_of(i) == probability_tint(tokens[i].prob)
    # Positions map back to tokens, across the astral character and the newline.
    doc_len = view.document().characterCount() - 1
    found = [view.token_at_position(p) for p in range(doc_len)]
    assert found[:4] == [0, 0, 0, 0]
    assert found[4:10] == [1] * 6
    assert 2 not in found
    assert found[-4:] == [4, 4, 4, 4]


def test_model_text_is_never_markup(qtbot: QtBot) -> None:
    view = TokenView()
    qtbot.addWidget(view)
    evil = '<img src="file:///etc/passwd"><b>x</b>\x00\x1b[31m'
    token = Token(1, 5, evil, 0.5, (TopToken(5, evil, 0.5), TopToken(6, "<script>", 0.2)))
    view.append_tokens([token])
    shown = view.toPlainText()
    assert "<img" in shown and "<b>x</b>" in shown  # literally, as text
    assert "\x00" not in shown and "\x1b" not in shown
    tip = alternatives_html(token, 0)
    assert "<img" not in tip and "<script>" not in tip
    assert "&lt;img" in tip and "&lt;script&gt;" in tip
    assert "50.0%" in tip and "20.0%" in tip


def test_divergence_is_marked_even_before_the_token_arrives(qtbot: QtBot) -> None:
    view = TokenView()
    qtbot.addWidget(view)
    view.append_tokens(make_tokens(["a", " b"]))
    view.set_divergence(3)  # not streamed yet
    view.append_tokens(make_tokens([" c", " d", " e"]))
    assert [view.is_marked(i) for i in range(5)] == [False, False, False, True, False]
    view.set_divergence(1)
    assert [view.is_marked(i) for i in range(5)] == [False, True, False, False, False]
    view.set_divergence(None)
    assert not any(view.is_marked(i) for i in range(5))


# --- panes ---------------------------------------------------------------------------------


def test_panes_mark_where_each_reply_departs_and_scroll_together(qtbot: QtBot) -> None:
    result = make_result()
    panes = ComparePanes()
    qtbot.addWidget(panes)
    panes.resize(900, 300)
    panes.reset(result.spec.variants, 0)
    panes.set_plan(result.plan)
    # Stream in uneven batches: the reference lags behind, then catches up.
    ref, q4, q2 = (list(v.tokens) for v in result.variants)
    panes.append_tokens({1: q4[:3], 2: q2[:4]})
    assert panes.divergences() == [None, None, None]  # nothing to compare against yet
    panes.append_tokens({0: ref[:4]})
    assert panes.divergences() == [None, None, 2]
    panes.append_tokens({0: ref[4:], 1: q4[3:], 2: q2[4:]})
    assert panes.divergences() == [None, 5, 2]
    assert panes.panes[1].view.is_marked(5)
    assert "token 6" in panes.panes[1].divergence_label.text()
    for v in result.variants:
        panes.finish_pane(v)
    assert [p.state for p in panes.panes] == [PaneState.DONE] * 3
    assert "tok/s" in panes.panes[2].speed_label.text()
    assert "KLD mean" in panes.panes[2].quality_label.text()

    # Long replies so the panes scroll; moving one moves the others proportionally.
    long = make_tokens([f" word{i}\n" for i in range(200)])
    panes.append_tokens({0: list(long), 1: list(long[:100]), 2: list(long)})
    panes.show()
    qtbot.waitExposed(panes)
    bars = [p.view.verticalScrollBar() for p in panes.panes]
    assert all(b.maximum() > 0 for b in bars)
    bars[0].setValue(bars[0].maximum() // 2)
    assert bars[2].value() == pytest.approx(bars[2].maximum() / 2, abs=2)
    assert bars[1].value() == pytest.approx(bars[1].maximum() / 2, abs=2)
    panes.sync_check.setChecked(False)
    before = bars[2].value()
    bars[0].setValue(0)
    assert bars[2].value() == before


def test_a_failed_pane_says_why(qtbot: QtBot) -> None:
    result = make_result(failed=1)
    panes = ComparePanes()
    qtbot.addWidget(panes)
    panes.reset(result.spec.variants, 0)
    panes.set_state(1, PaneState.FAILED, "worker_crashed", None)
    for v in result.variants:
        panes.finish_pane(v)
    pane = panes.panes[1]
    assert pane.state == PaneState.FAILED
    assert pane.error_label.isVisibleTo(pane)
    assert "stopped unexpectedly (SIGABRT)" in pane.error_label.text()
    assert "other panes go on" in pane.error_label.text()
    assert panes.panes[2].state == PaneState.DONE


def test_clicking_a_token_shows_its_alternatives(qtbot: QtBot) -> None:
    result = make_result()
    panes = ComparePanes()
    qtbot.addWidget(panes)
    panes.reset(result.spec.variants, 0)
    panes.append_tokens({0: list(result.variants[0].tokens)})
    panes.resize(900, 300)
    panes.show()
    qtbot.waitExposed(panes)
    view = panes.panes[0].view
    cursor = QTextCursor(view.document())
    cursor.setPosition(1)  # inside the first token
    rect = view.cursorRect(cursor)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panes.detail.text().startswith("tiny-F16, token 1: The (95.0%)")
    assert "Thex" in panes.detail.text()
    # Hovering shows the same alternatives as a tooltip; nothing below the text.
    tip = view.tooltip_at(rect.center())
    assert tip is not None and "Token 1" in tip and "95.0%" in tip and "Thex" in tip
    assert view.tooltip_at(QPoint(5, view.viewport().height() - 3)) is None


# --- heat strip ----------------------------------------------------------------------------


def test_heat_strip_cells_follow_the_scored_rows(qtbot: QtBot) -> None:
    result = make_result()
    rows = result.variants[2].rows
    assert rows is not None and rows.kld is not None and rows.ref_top1 is not None
    assert rows.ref_nll is not None
    cells = heat_cells(result.scored_texts, rows)
    assert [c.kld for c in cells] == pytest.approx(list(rows.kld))
    assert [c.text for c in cells] == REFERENCE_WORDS
    spike = int(np.argmax(rows.kld))
    strip = HeatStrip()
    qtbot.addWidget(strip)
    strip.resize(len(cells) * 20, 18)
    strip.set_cells(
        cells,
        lambda token_id: {100 + sum(map(ord, " looks")): " looks"}.get(token_id, f"#{token_id}"),
    )
    assert strip.cell_at(spike * 20 + 5) == spike
    assert strip.cell_at(-1) is None and strip.cell_at(strip.width()) is None
    assert strip.color_of(spike) == kld_color(float(rows.kld[spike]))
    tip = strip.tooltip_for(spike)
    assert f"{rows.kld[spike]:.4g}" in tip
    assert "\u2423looks" in tip and "(differs)" in tip  # the two top choices, spaces shown
    assert heat_cells(REFERENCE_WORDS, result.variants[0].rows) == []  # type: ignore[arg-type]
    # Painting more tokens than pixels keeps working (worst token per pixel).
    strip.set_cells(cells * 50)
    strip.resize(100, 18)
    assert not strip.grab().isNull()


# --- summary table -------------------------------------------------------------------------


def test_summary_model_shows_every_number(qtmodeltester: object) -> None:
    result = make_result(failed=1)
    model = CompareSummaryModel()
    model.set_results(result.variants, reference=0, recommended=2)
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert model.rowCount() == 3 and model.columnCount() == len(COLUMNS)

    def cell(row: int, name: str) -> str:
        return model.index(row, COLUMNS.index(name)).data()

    q2 = result.variants[2].summary
    assert q2 is not None and q2.kld_mean is not None and q2.top1_agreement is not None
    assert cell(0, "Variant") == "F16 (ref)"
    assert cell(0, "KLD mean") == "0.0000"
    assert cell(0, "PPL ratio") == "1.000"
    assert cell(2, "Variant") == "Q2_K ★"
    assert cell(2, "KLD mean") == f"{q2.kld_mean:.4f}"
    assert cell(2, "Same top-1") == f"{q2.top1_agreement * 100:.1f}%"
    assert cell(2, "Size") == "205 MiB"
    assert cell(2, "Gen tok/s") == "60.0"
    assert cell(1, "Variant") == "Q4_K_M (failed)"
    assert cell(1, "KLD mean") == "—"
    tip = model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "stopped unexpectedly" in tip
    kld_col = COLUMNS.index("KLD mean")
    raw = [model.index(r, kld_col).data(CompareSummaryModel.SORT_ROLE) for r in range(3)]
    assert raw[0] == 0.0 and raw[1] == float("inf") and raw[2] == pytest.approx(q2.kld_mean)
    model.clear()
    assert model.rowCount() == 0


def test_variants_model_keeps_two_to_four_distinct_files(qtmodeltester: object) -> None:
    model = CompareVariantsModel()
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    result = make_result()
    paths = list(result.spec.variants)
    model.set_paths([paths[0], paths[0], *paths])
    assert model.paths == paths
    assert model.index(0, 1).data() == "…"  # facts come with the plan
    model.set_plan(result.plan)
    assert model.reference == 0
    assert model.index(1, 1).data() == "Q4_K_M"
    assert model.index(1, 3).data() == "413 MiB"
    assert model.index(1, 4).data() == "Fits"
    assert model.add_path("/m/four.gguf") and not model.add_path("/m/five.gguf")
    assert not model.add_path(paths[1])
    model.remove_row(0)
    assert model.reference == -1
    model.set_plan(result.plan)  # for other files: ignored
    assert model.info_at(0) is not None and model.info_at(0).label == "Q4_K_M"  # type: ignore[union-attr]
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.data(QModelIndex()) is None


# --- chart ---------------------------------------------------------------------------------


def test_chart_plots_one_point_per_scored_variant(qtbot: QtBot) -> None:
    result = make_result()
    points = chart_points(result, recommended=1)
    assert [p.label for p in points] == ["F16", "Q4_K_M", "Q2_K"]
    assert [p.recommended for p in points] == [False, True, False]
    chart = QualityChart()
    qtbot.addWidget(chart)
    chart.resize(600, 400)
    chart.set_points(points, available=int(2 * GIB))
    # x = size in GiB, sorted; y = mean KLD.
    labels = [label for label, _x, _y in chart.plotted]
    assert labels == ["Q2_K", "Q4_K_M", "F16"]
    q2 = result.variants[2].summary
    assert q2 is not None
    assert chart.plotted[0][1] == pytest.approx(result.variants[2].info.size_bytes / GIB)
    assert chart.plotted[0][2] == pytest.approx(q2.kld_mean)
    assert chart.budget_x == pytest.approx(2.0)
    assert "Q4_K_M" in chart.caption.text() and "RAM available" in chart.caption.text()
    # The curve, three points, the RAM line.
    assert len(chart.chart.series()) == 5
    chart.x_combo.setCurrentIndex(1)  # bits per weight: no RAM line on that axis
    chart.y_combo.setCurrentIndex(1)  # PPL ratio
    assert [x for _l, x, _y in chart.plotted] == [2.96, 4.89, 16.0]
    assert chart.plotted[0][2] == pytest.approx(q2.ppl_ratio)
    assert chart.budget_x is None
    # A budget far beyond the files is described, not drawn.
    chart.x_combo.setCurrentIndex(0)
    chart.set_points(points, available=int(64 * GIB))
    assert chart.budget_x is None and "off the chart" in chart.caption.text()
    assert chart.png_bytes().startswith(b"\x89PNG")


def test_chart_leaves_out_failed_variants(qtbot: QtBot) -> None:
    result = make_result(failed=2)
    points = chart_points(result, recommended=None)
    assert [p.label for p in points] == ["F16", "Q4_K_M"]
    chart = QualityChart()
    qtbot.addWidget(chart)
    chart.set_points(points, available=int(GIB // 2))
    assert "No variant fits comfortably" in chart.caption.text()
    chart.set_points([], available=0)
    assert chart.plotted == [] and "Nothing to plot" in chart.caption.text()
