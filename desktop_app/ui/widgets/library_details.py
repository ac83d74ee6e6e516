"""The library's details panel: actions on the selected model, its facts, every location."""

from __future__ import annotations

import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.library.families import ModelFamily
from desktop_app.core.provenance import Provenance
from desktop_app.formatting import describe_sliding_window, human_bytes, human_count
from desktop_app.messages import describe_broken_reason
from desktop_app.ui.models.library_model import FIT_CONTEXT, LibraryRow, source_name
from desktop_app.ui.theme import verdict_text
from desktop_app.ui.widgets.facts_form import FactsForm

_ROWS = [
    ("status", "Status"),
    ("name", "Model name"),
    ("family", "Family"),
    ("arch", "Architecture"),
    ("params", "Parameters"),
    ("quant", "Quantization"),
    ("bpw", "Bits per weight"),
    ("size", "Size on disk"),
    ("fit", f"Memory at {FIT_CONTEXT // 1024}K"),
    ("ctx", "Trained context"),
    ("shape", "Layers / embedding"),
    ("heads", "Heads (KV heads)"),
    ("kvlen", "Key / value length"),
    ("swa", "Sliding window"),
    ("vocab", "Vocabulary"),
    ("tokenizer", "Tokenizer"),
    ("template", "Chat template"),
    ("split", "Split into"),
    ("modified", "Modified"),
    ("tensors", "Tensor types"),
]


class _PathsText(QTextEdit):
    """Read-only plain text that wraps long paths anywhere and is exactly as tall as its text
    (a QLabel wraps only at spaces, so a long path would widen the whole panel)."""

    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(2)
        self.document().contentsChanged.connect(self._fit_height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        self.document().setTextWidth(self.viewport().width())
        height = int(self.document().size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(height)


class LibraryDetails(QWidget):
    """Buttons are public: the page connects them and sets their state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select a model to see its details.")
        self.title.setObjectName("detailsTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")

        self.chat_button = QPushButton("Open in Chat")
        self.compare_button = QPushButton("Open family in Compare")
        self.reveal_button = QPushButton("Show in folder")
        self.hide_button = QPushButton("Hide")
        self.delete_button = QPushButton("Delete…")
        buttons = QGridLayout()
        buttons.addWidget(self.chat_button, 0, 0)
        buttons.addWidget(self.compare_button, 0, 1)
        buttons.addWidget(self.reveal_button, 1, 0)
        row = QGridLayout()
        row.addWidget(self.hide_button, 0, 0)
        row.addWidget(self.delete_button, 0, 1)
        buttons.addLayout(row, 1, 1)

        # How QuantDesk made the file (its sidecar, read by the scan): shown only when known.
        self.provenance_box = QGroupBox("Provenance")
        self.provenance = QLabel("")
        self.provenance.setWordWrap(True)
        self.provenance.setTextFormat(Qt.TextFormat.PlainText)
        self.provenance.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(self.provenance_box).addWidget(self.provenance)

        self.facts = FactsForm("Facts", _ROWS)
        self.fields = self.facts.fields

        self.locations_box = QGroupBox("Locations")
        self.locations = _PathsText()
        QVBoxLayout(self.locations_box).addWidget(self.locations)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(buttons)
        layout.addWidget(self.provenance_box)
        layout.addWidget(self.locations_box)
        layout.addWidget(self.facts)
        layout.addStretch(1)
        self.show_row(None, None)

    def show_row(self, row: LibraryRow | None, family: ModelFamily | None) -> None:
        f = self.fields
        self.facts.setVisible(row is not None)
        self.locations_box.setVisible(row is not None)
        made = row.entry.provenance if row is not None else None
        self.provenance.setText(describe_provenance(made) if made is not None else "")
        self.provenance_box.setVisible(made is not None)
        if row is None:
            self.title.setText("Select a model to see its details.")
            self.locations.setPlainText("")
            return
        entry, facts = row.entry, row.entry.facts
        self.title.setText(row.display_name)
        if entry.broken_reason is not None:
            f["status"].setText(f"Broken: {describe_broken_reason(entry.broken_reason)}")
            f["status"].setStyleSheet("color: #d64541;")
        else:
            f["status"].setText("Ready" + (", in QuantDesk's folder" if entry.own else ""))
            f["status"].setStyleSheet("")
        n_variants = len(family.variants) if family is not None else 1
        f["family"].setText(
            f"{row.family_name} ({n_variants} variant{'s' if n_variants != 1 else ''})"
        )
        f["quant"].setText(entry.quant_label + (" (inferred)" if _guessed(row) else ""))
        f["size"].setText(f"{human_bytes(entry.size)} ({entry.size:,} bytes)")
        modified = datetime.datetime.fromtimestamp(entry.mtime_ns / 1e9)
        f["modified"].setText(modified.strftime("%Y-%m-%d %H:%M"))
        if row.verdict is not None and row.fit_total is not None:
            f["fit"].setText(f"{human_bytes(row.fit_total)}: {verdict_text(row.verdict)}")
        else:
            f["fit"].setText("—")
        self.locations.setPlainText(
            "\n".join(f"{source_name(loc.source_kind)}: {loc.path}" for loc in entry.paths)
        )
        keys = ("name", "arch", "params", "bpw", "ctx", "shape", "heads", "kvlen", "swa")
        keys += ("vocab", "tokenizer", "template", "split", "tensors")
        if facts is None:
            for key in keys:
                f[key].setText("—")
            return
        f["name"].setText(facts.name or facts.basename or "(not given)")
        f["arch"].setText(facts.architecture)
        f["params"].setText(human_count(facts.parameter_count) if facts.parameter_count else "—")
        f["bpw"].setText(f"{facts.bits_per_weight:.2f}")
        f["ctx"].setText(f"{facts.context_length:,} tokens" if facts.context_length else "unknown")
        f["shape"].setText(f"{facts.n_layer or '?'} / {facts.n_embd or '?'}")
        f["heads"].setText(f"{facts.n_head or '?'} ({facts.n_head_kv or '?'})")
        f["kvlen"].setText(f"{facts.key_length or '?'} / {facts.value_length or '?'}")
        f["swa"].setText(describe_sliding_window(facts))
        f["vocab"].setText(f"{facts.vocab_size:,}" if facts.vocab_size else "unknown")
        f["tokenizer"].setText(facts.tokenizer_model or "unknown")
        f["template"].setText("yes" if facts.has_chat_template else "no (a generic one is used)")
        f["split"].setText(f"{facts.split_count} files" if facts.split_count > 1 else "one file")
        f["tensors"].setText(
            ", ".join(
                f"{name} ×{st.count} ({human_bytes(st.n_bytes)})"
                for name, st in facts.tensor_types.items()
            )
            or "—"
        )

    def set_actions(
        self,
        row: LibraryRow | None,
        family: ModelFamily | None,
        *,
        hidden: bool,
        compare_unavailable: str | None,
    ) -> None:
        """Enable what applies to ``row``; disabled buttons say why in their tooltip."""
        for button in (self.chat_button, self.compare_button, self.reveal_button):
            button.setEnabled(row is not None)
            button.setToolTip("")
        self.hide_button.setText("Unhide" if hidden else "Hide")
        if row is None:
            self.hide_button.setEnabled(False)
            self.delete_button.setEnabled(False)
            self.hide_button.setToolTip("")
            self.delete_button.setToolTip("")
            return
        entry = row.entry
        if entry.broken_reason is not None:
            self.chat_button.setEnabled(False)
            self.chat_button.setToolTip("This file is broken and cannot be loaded.")
        usable = [v for v in family.variants if v.broken_reason is None] if family else []
        if compare_unavailable is not None:
            self.compare_button.setEnabled(False)
            self.compare_button.setToolTip(compare_unavailable)
        elif len(usable) < 2:
            self.compare_button.setEnabled(False)
            self.compare_button.setToolTip("This family has only one usable variant.")
        else:
            self.compare_button.setToolTip("Compare this model's quantizations side by side")
        self.reveal_button.setToolTip(str(entry.path.parent))
        self.delete_button.setEnabled(entry.own)
        self.hide_button.setEnabled(not entry.own)
        if entry.own:
            self.delete_button.setToolTip("Delete this file from QuantDesk's models folder")
            self.hide_button.setToolTip("QuantDesk's own files can be deleted instead of hidden.")
        else:
            app = source_name(entry.paths[0].source_kind)
            self.delete_button.setToolTip(
                f"This file belongs to {app}. QuantDesk deletes only files in its own models "
                "folder; hide it here, or delete it in that app."
            )
            self.hide_button.setToolTip(
                "Show this file again in the list"
                if hidden
                else "Hide this file from the list (the file itself is not changed)"
            )


def _guessed(row: LibraryRow) -> bool:
    facts = row.entry.facts
    return facts is not None and facts.file_type_guessed


def describe_provenance(p: Provenance) -> str:
    """One sentence: "Made by QuantDesk from X (F16) as Q4_K_M on <date>, without an imatrix"."""
    text = "Made by QuantDesk"
    if p.source:
        source_type = f" ({p.source_type})" if p.source_type else ""
        converted = ", converted from a Hugging Face folder," if p.converted_from_folder else ""
        text += f" from {p.source}{source_type}{converted}"
    if p.output_type:
        text += f" as {p.output_type}"
    if p.created is not None:
        text += f" on {p.created.astimezone().strftime('%Y-%m-%d %H:%M')}"
    text += f", with the imatrix {p.imatrix}" if p.imatrix else ", without an imatrix"
    if len(p.ladder) > 1:
        text += f"; one of a ladder of {len(p.ladder)} ({', '.join(p.ladder)})"
    return text + "."
