"""This machine: memory, cores, disk, CPU features, and which well-known models fit."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hardware import MachineInfo, read_machine_info
from desktop_app.core.size_guide import size_guide
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_error
from desktop_app.ui.models.size_guide_model import SizeGuideModel
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets.facts_form import FactsForm

CONTEXT_CHOICES = (2048, 4096, 8192, 16384, 32768)


class MachinePage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._info: MachineInfo | None = None

        title = QLabel("This machine")
        title.setObjectName("pageTitle")
        self._summary = QLabel("Reading this machine's facts…")
        self._summary.setWordWrap(True)

        facts_box = FactsForm(
            "Hardware",
            [
                ("ram", "Memory"),
                ("swap", "Swap"),
                ("cpu", "Processor"),
                ("cores", "Cores"),
                ("features", "CPU features"),
                ("disk", "Models disk"),
                ("os", "System"),
            ],
        )
        self._fields = facts_box.fields

        guide_box = QGroupBox("What fits: well-known models by quantization")
        self._ctx = QComboBox()
        for n in CONTEXT_CHOICES:
            self._ctx.addItem(f"{n:,} tokens", n)
        self._ctx.setCurrentIndex(1)
        self._ctx.currentIndexChanged.connect(self._on_ctx_changed)
        ctx_row = QHBoxLayout()
        ctx_row.addWidget(QLabel("Context length"))
        ctx_row.addWidget(self._ctx)
        ctx_row.addStretch(1)
        legend = QLabel(
            "Green: fits with room to spare. Amber: fits only by using memory the system "
            "needs. Red: needs more memory than is available now."
        )
        legend.setWordWrap(True)
        self._guide_model = SizeGuideModel(self)
        self.guide_view = QTableView()
        self.guide_view.setModel(self._guide_model)
        self.guide_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.guide_view.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.guide_view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        guide_layout = QVBoxLayout(guide_box)
        guide_layout.addLayout(ctx_row)
        guide_layout.addWidget(self.guide_view)
        guide_layout.addWidget(legend)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self._summary)
        layout.addWidget(facts_box)
        layout.addWidget(guide_box, 1)

    def refresh(self) -> None:
        """Read the machine's facts off the GUI thread (it imports llama.cpp)."""
        models_dir = self._services.paths.models
        (
            Op(read_machine_info, models_dir)
            .success(self._show_info)
            .failure(self._show_error)
            .owned_by(self)
            .run_in(self._services.pools.io)
        )

    def _show_info(self, info: MachineInfo) -> None:
        self._info = info
        f = self._fields
        f["ram"].setText(
            f"{human_bytes(info.total_ram)} total, {human_bytes(info.available_ram)} available"
        )
        f["swap"].setText(f"{human_bytes(info.swap_total)} ({human_bytes(info.swap_free)} free)")
        f["cpu"].setText(info.cpu_model)
        f["cores"].setText(f"{info.physical_cores} physical, {info.logical_cores} logical")
        source = (
            "as llama.cpp reports them" if info.features_source == "llama.cpp" else "from the OS"
        )
        f["features"].setText(f"{' '.join(info.cpu_features) or 'unknown'} ({source})")
        f["disk"].setText(
            f"{human_bytes(info.disk_free)} free of {human_bytes(info.disk_total)}"
            f" at {info.disk_path}"
        )
        f["os"].setText(info.os_name + ("" if info.gpu_offload else " — CPU only, no GPU offload"))
        self._summary.setText(
            f"With {human_bytes(info.available_ram)} free, models up to about "
            f"{human_bytes(info.available_ram * 0.8)} in memory run comfortably. Smaller "
            "quantizations (fewer bits per weight) fit bigger models, at some loss of quality."
        )
        self._update_guide()

    def _show_error(self, exc: BaseException) -> None:
        self._summary.setText(f"Could not read this machine's facts: {describe_error(exc)}")

    @Slot(int)
    def _on_ctx_changed(self, _index: int) -> None:
        self._update_guide()

    def _update_guide(self) -> None:
        if self._info is None:
            return
        n_ctx = int(self._ctx.currentData())
        self._guide_model.set_rows(size_guide(self._info.available_ram, n_ctx))
