"""Quality against size: one point per variant, this machine's RAM as a line, the pick marked.

x is the file size (or bits per weight), y the mean KL divergence from the reference (or the
perplexity ratio). Each variant is its own small series so its point can carry its quant label;
a line joins them in x order so the trade-off reads as a curve.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, Qt, Slot
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop_app.core.compare.results import CompareResult
from desktop_app.formatting import human_bytes

GIB = 1024**3
MIB = 1024**2
POINT_COLOR = QColor(74, 123, 208)
PICK_COLOR = QColor(46, 157, 79)
BUDGET_COLOR = QColor(214, 69, 65)
# Beyond this many times the largest file, the RAM line would squash every point to the left.
BUDGET_SPAN = 3.0


@dataclass(frozen=True)
class ChartPoint:
    index: int
    label: str
    size_bytes: int
    bits_per_weight: float | None
    kld_mean: float
    ppl_ratio: float | None
    recommended: bool


def chart_points(result: CompareResult, recommended: int | None) -> list[ChartPoint]:
    """Variants that were scored (failed or cancelled panes have nothing to plot)."""
    points = []
    for v in result.variants:
        s = v.summary
        if v.failed or s is None or s.kld_mean is None:
            continue
        points.append(
            ChartPoint(
                index=v.index,
                label=v.info.label,
                size_bytes=v.info.size_bytes,
                bits_per_weight=v.info.bits_per_weight,
                kld_mean=s.kld_mean,
                ppl_ratio=s.ppl_ratio,
                recommended=v.index == recommended,
            )
        )
    return points


class QualityChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: list[ChartPoint] = []
        self._available = 0
        self.plotted: list[tuple[str, float, float]] = []  # (label, x, y) as drawn
        self.budget_x: float | None = None  # where the RAM line is drawn (None: not drawn)

        self.x_combo = QComboBox()
        self.x_combo.addItems(["File size", "Bits per weight"])
        self.y_combo = QComboBox()
        self.y_combo.addItems(["KLD mean", "PPL ratio"])
        self.x_combo.currentIndexChanged.connect(self._redraw)
        self.y_combo.currentIndexChanged.connect(self._redraw)
        self.chart = QChart()
        self.chart.legend().hide()
        self.chart.setMargins(self.chart.margins())
        self.view = QChartView(self.chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setMinimumSize(320, 240)
        self.caption = QLabel("Run a comparison to see quality against size.")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)

        toggles = QHBoxLayout()
        toggles.addWidget(QLabel("x"))
        toggles.addWidget(self.x_combo)
        toggles.addWidget(QLabel("y"))
        toggles.addWidget(self.y_combo)
        toggles.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toggles)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)

    def set_points(self, points: list[ChartPoint], available: int) -> None:
        self._points = points
        self._available = available
        self._redraw()

    def png_bytes(self) -> bytes:
        """The chart as drawn, for the exported report."""
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.view.grab().save(buffer, "PNG")
        data: QByteArray = buffer.data()
        return bytes(data.data())

    # --- drawing ----------------------------------------------------------------------------

    def _x(self, p: ChartPoint, unit: int) -> float | None:
        if self.x_combo.currentIndex() == 0:
            return p.size_bytes / unit
        return p.bits_per_weight

    def _y(self, p: ChartPoint) -> float | None:
        return p.kld_mean if self.y_combo.currentIndex() == 0 else p.ppl_ratio

    @Slot()
    def _redraw(self) -> None:
        chart = self.chart
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        dark = self.palette().color(QPalette.ColorRole.Window).lightness() < 128
        chart.setTheme(
            QChart.ChartTheme.ChartThemeDark if dark else QChart.ChartTheme.ChartThemeLight
        )
        chart.legend().hide()
        by_size = self.x_combo.currentIndex() == 0
        largest = max((p.size_bytes for p in self._points), default=0)
        unit = GIB if largest >= GIB else MIB
        unit_name = "GiB" if unit == GIB else "MiB"
        triples = []
        for p in self._points:
            x, y = self._x(p, unit), self._y(p)
            if x is not None and y is not None:
                triples.append((p, x, y))
        triples.sort(key=lambda t: t[1])
        self.plotted = [(p.label, x, y) for p, x, y in triples]
        self.budget_x = None
        if not triples:
            self.caption.setText("Nothing to plot yet: no variant has been scored.")
            return

        curve = QLineSeries()
        curve.setPen(QPen(POINT_COLOR.lighter(130), 1.5))
        for _p, x, y in triples:
            curve.append(QPointF(x, y))
        series: list[QLineSeries | QScatterSeries] = [curve]
        for p, x, y in triples:
            dot = QScatterSeries()
            dot.setMarkerSize(16 if p.recommended else 11)
            dot.setColor(PICK_COLOR if p.recommended else POINT_COLOR)
            dot.setBorderColor(PICK_COLOR.darker(140) if p.recommended else POINT_COLOR)
            dot.append(QPointF(x, y))
            dot.setPointLabelsFormat(p.label + (" ★" if p.recommended else ""))
            dot.setPointLabelsVisible(True)
            dot.setPointLabelsClipping(False)
            series.append(dot)

        xs = [x for _p, x, _y in triples]
        ys = [y for _p, _x, y in triples]
        x_hi = max(xs) * 1.15 or 1.0
        budget = self._available / unit if by_size and self._available else None
        far_budget = budget is not None and budget > max(xs) * BUDGET_SPAN
        if budget is not None and not far_budget:
            x_hi = max(x_hi, budget * 1.08)
        y_lo, y_hi = min(ys), max(ys)
        pad = (y_hi - y_lo) * 0.15 or max(abs(y_hi) * 0.1, 0.01)
        y_lo, y_hi = y_lo - pad, y_hi + pad
        if self.y_combo.currentIndex() == 0:
            y_lo = max(0.0, y_lo)  # a divergence is never negative
        if budget is not None and not far_budget:
            line = QLineSeries()
            pen = QPen(BUDGET_COLOR, 2, Qt.PenStyle.DashLine)
            line.setPen(pen)
            line.append(QPointF(budget, y_lo))
            line.append(QPointF(budget, y_hi))
            series.append(line)
            self.budget_x = budget

        axis_x = QValueAxis()
        axis_x.setTitleText(f"File size ({unit_name})" if by_size else "Bits per weight")
        axis_x.setRange(0 if by_size else max(0.0, min(xs) - 1), x_hi if by_size else max(xs) + 1)
        axis_x.setLabelFormat("%.3g")
        axis_y = QValueAxis()
        axis_y.setTitleText(
            "KL divergence from the reference (mean)"
            if self.y_combo.currentIndex() == 0
            else "Perplexity ratio"
        )
        axis_y.setRange(y_lo, y_hi)
        axis_y.applyNiceNumbers()  # round ticks (0.05, 0.1...) instead of the raw range
        axis_y.setLabelFormat("%.3g")
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        for s in series:
            chart.addSeries(s)
            s.attachAxis(axis_x)
            s.attachAxis(axis_y)

        pick = next((p for p, _x, _y in triples if p.recommended), None)
        if pick is None:
            parts = ["No variant fits comfortably in the memory available now."]
        elif pick.kld_mean == 0:
            parts = [f"★ Recommended: {pick.label}, the reference itself: it fits comfortably."]
        else:
            parts = [
                f"★ Recommended: {pick.label}, the closest to the reference among the files "
                "that fit comfortably."
            ]
        if budget is not None and far_budget:
            parts.append(
                f"RAM available now ({human_bytes(self._available)}) is far beyond these "
                "files, so its line is off the chart."
            )
        elif budget is not None:
            parts.append(f"Dashed red line: RAM available now ({human_bytes(self._available)}).")
        self.caption.setText(" ".join(parts))
