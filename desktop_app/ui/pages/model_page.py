"""Open a GGUF file: its facts, the memory it needs at a chosen context, and every quant priced.

The header is read and validated off the GUI thread; estimates for the slider are computed off
it too, newest request wins (older results are dropped when they arrive late).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSortFilterProxyModel, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.fit import FitEstimate, LoadPlan, estimate_as_quant, estimate_fit, max_context
from desktop_app.core.hardware import memory_snapshot
from desktop_app.core.model_facts import ModelFacts, read_model_facts
from desktop_app.core.quant_types import FILE_TYPES
from desktop_app.formatting import describe_sliding_window, human_bytes, human_count
from desktop_app.messages import describe_error
from desktop_app.ui.models.quant_table import QuantRow, QuantTableModel
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.theme import badge_style, verdict_text
from desktop_app.ui.widgets.facts_form import FactsForm
from desktop_app.ui.widgets.memory_bar import SEGMENT_LABELS, MemoryBar

CTX_STEP = 256


@dataclass(frozen=True)
class _Pricing:
    request: int
    fit: FitEstimate
    largest: int
    quant_rows: tuple[QuantRow, ...]


def _price(
    request: int, facts: ModelFacts, plan: LoadPlan, cpu_features: tuple[str, ...]
) -> _Pricing:
    available = memory_snapshot().available
    fit = estimate_fit(facts, plan, available, cpu_features=cpu_features)
    largest = max_context(facts, plan, available, cpu_features=cpu_features)
    rows = []
    current = facts.file_type.label if facts.file_type else None
    for ft in sorted(FILE_TYPES, key=lambda t: -t.rank):
        est = estimate_as_quant(facts, ft.bits_per_weight, plan, available)
        rows.append(QuantRow(ft, est.total, est.verdict, ft.label == current))
    return _Pricing(request, fit, largest, tuple(rows))


class ModelPage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._facts: ModelFacts | None = None
        self._cpu_features: tuple[str, ...] = ("AVX2",)
        self._request = 0

        title = QLabel("Model file")
        title.setObjectName("pageTitle")
        self.open_button = QPushButton("Open model file…")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.status = QLabel("Open a GGUF file to see what it is and what it needs.")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.open_button)

        facts_box = FactsForm(
            "Facts",
            [
                ("file", "File"),
                ("name", "Name"),
                ("arch", "Architecture"),
                ("params", "Parameters"),
                ("quant", "Quantization"),
                ("bpw", "Bits per weight"),
                ("ctx", "Trained context"),
                ("shape", "Layers / embedding"),
                ("heads", "Heads (KV heads)"),
                ("kvlen", "Key / value length"),
                ("swa", "Sliding window"),
                ("vocab", "Vocabulary"),
                ("template", "Chat template"),
                ("tensors", "Tensor types"),
            ],
        )
        self._fact_labels = facts_box.fields

        fit_box = QGroupBox("Memory at this context")
        self.ctx_slider = QSlider(Qt.Orientation.Horizontal)
        self.ctx_slider.setEnabled(False)
        self.ctx_slider.valueChanged.connect(self._on_ctx_changed)
        self.ctx_value = QLabel("—")
        self.kv_type = QComboBox()
        for kv in ("f16", "q8_0", "q4_0"):
            self.kv_type.addItem(f"KV cache {kv}", kv)
        self.kv_type.currentIndexChanged.connect(self._on_ctx_changed)
        ctx_row = QHBoxLayout()
        ctx_row.addWidget(QLabel("Context"))
        ctx_row.addWidget(self.ctx_slider, 1)
        ctx_row.addWidget(self.ctx_value)
        ctx_row.addWidget(self.kv_type)
        self.memory_bar = MemoryBar()
        self.verdict = QLabel("")
        self.breakdown = QLabel("")
        self.breakdown.setWordWrap(True)
        verdict_row = QHBoxLayout()
        verdict_row.addWidget(self.verdict)
        verdict_row.addWidget(self.breakdown, 1)
        fit_layout = QVBoxLayout(fit_box)
        fit_layout.addLayout(ctx_row)
        fit_layout.addWidget(self.memory_bar)
        fit_layout.addLayout(verdict_row)

        quant_box = QGroupBox("Every quantization, priced for this model")
        self.quant_model = QuantTableModel(self)
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.quant_model)
        proxy.setSortRole(QuantTableModel.SORT_ROLE)
        self.quant_view = QTableView()
        self.quant_view.setModel(proxy)
        self.quant_view.setSortingEnabled(True)
        self.quant_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.quant_view.verticalHeader().hide()
        self.quant_view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.quant_view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        hdr = self.quant_view.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hdr.setStretchLastSection(True)
        QVBoxLayout(quant_box).addWidget(self.quant_view)
        self.quant_model.set_rows(
            [QuantRow(ft) for ft in sorted(FILE_TYPES, key=lambda t: -t.rank)]
        )

        top = QHBoxLayout()
        top.addWidget(facts_box, 2)
        right = QVBoxLayout()
        right.addWidget(fit_box)
        right.addStretch(1)
        top.addLayout(right, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.status)
        layout.addLayout(top)
        layout.addWidget(quant_box, 1)

    def set_cpu_features(self, features: tuple[str, ...]) -> None:
        self._cpu_features = features

    @Slot()
    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open model file",
            str(self._services.paths.models),
            "GGUF models (*.gguf);;All files (*)",
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> None:
        self.status.setText(f"Reading {path} …")
        self.open_button.setEnabled(False)
        (
            Op(read_model_facts, path)
            .success(self._show_facts)
            .failure(self._show_error)
            .owned_by(self)
            .run_in(self._services.pools.io)
        )

    def _show_error(self, exc: BaseException) -> None:
        self.open_button.setEnabled(True)
        self.status.setText(f"Could not open the file: {describe_error(exc)}")
        self.status.setStyleSheet("color: #d64541;")

    def _show_facts(self, facts: ModelFacts) -> None:
        self.open_button.setEnabled(True)
        self.status.setStyleSheet("")
        self.status.setText(f"{facts.path}")
        self._facts = facts
        lab = self._fact_labels
        lab["file"].setText(
            f"{human_bytes(facts.file_size)}"
            + (f", part 1 of {facts.split_count}" if facts.split_count > 1 else "")
        )
        lab["name"].setText(facts.name or facts.basename or "(not given)")
        lab["arch"].setText(facts.architecture)
        lab["params"].setText(human_count(facts.parameter_count))
        note = f" — {facts.file_type.note}" if facts.file_type else ""
        guessed = " (inferred from tensors)" if facts.file_type_guessed else ""
        lab["quant"].setText(f"{facts.quant_label}{guessed}{note}")
        lab["bpw"].setText(f"{facts.bits_per_weight:.2f}")
        lab["ctx"].setText(f"{facts.context_length:,}" if facts.context_length else "unknown")
        lab["shape"].setText(f"{facts.n_layer or '?'} / {facts.n_embd or '?'}")
        lab["heads"].setText(f"{facts.n_head or '?'} ({facts.n_head_kv or '?'})")
        lab["kvlen"].setText(f"{facts.key_length or '?'} / {facts.value_length or '?'}")
        lab["swa"].setText(describe_sliding_window(facts))
        lab["vocab"].setText(f"{facts.vocab_size:,}" if facts.vocab_size else "unknown")
        lab["template"].setText("yes" if facts.has_chat_template else "no (a generic one is used)")
        lab["tensors"].setText(
            ", ".join(
                f"{name} ×{st.count} ({human_bytes(st.n_bytes)})"
                for name, st in facts.tensor_types.items()
            )
        )
        max_ctx = max(CTX_STEP, facts.context_length or 4096)
        self.ctx_slider.blockSignals(True)
        self.ctx_slider.setRange(1, max(1, max_ctx // CTX_STEP))
        self.ctx_slider.setValue(max(1, min(4096, max_ctx) // CTX_STEP))
        self.ctx_slider.blockSignals(False)
        self.ctx_slider.setEnabled(True)
        self._on_ctx_changed()

    def current_plan(self) -> LoadPlan:
        return LoadPlan(
            n_ctx=self.ctx_slider.value() * CTX_STEP, kv_type=str(self.kv_type.currentData())
        )

    @Slot()
    def _on_ctx_changed(self, *_args: object) -> None:
        if self._facts is None:
            return
        plan = self.current_plan()
        self.ctx_value.setText(f"{plan.n_ctx:,} tokens")
        self._request += 1
        (
            Op(_price, self._request, self._facts, plan, self._cpu_features)
            .success(self._show_pricing)
            .failure(self._show_error)
            .owned_by(self)
            .run_in(self._services.pools.io)
        )

    def _show_pricing(self, pricing: _Pricing) -> None:
        if pricing.request != self._request:
            return  # a newer slider position is on its way
        fit = pricing.fit
        self.memory_bar.set_estimate(fit)
        self.verdict.setText(verdict_text(fit.verdict))
        self.verdict.setStyleSheet(badge_style(fit.verdict))
        m = fit.memory
        parts = [
            f"{SEGMENT_LABELS[k]} {human_bytes(getattr(m, k))}"
            for k in ("weights", "repack", "kv_cache", "compute", "overhead")
            if getattr(m, k)
        ]
        largest = (
            f"Largest comfortable context: {pricing.largest:,} tokens."
            if pricing.largest
            else "No context length fits comfortably."
        )
        self.breakdown.setText(
            f"{human_bytes(m.total)} needed of {human_bytes(fit.available)} available: "
            + " + ".join(parts)
            + f". {largest}"
        )
        self.quant_model.set_rows(pricing.quant_rows)
