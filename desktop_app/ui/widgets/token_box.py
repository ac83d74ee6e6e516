"""The Hugging Face token: its masked state, a field to paste a new one, Save and Remove.

Reading and writing the token file (and importing huggingface_hub to learn where it is) run on
the io pool. The token itself only ever sits in the password field until Save; the labels show
``hf_****abcd``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.hf_token import TokenSource, TokenState, clear_token, read_token, save_token
from desktop_app.messages_settings import describe_token_error
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op

ERROR_STYLE = "color: #d64541;"


class TokenBox(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._state: TokenState | None = None
        self.status = QLabel("Checking for a saved token…")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("Paste a Hugging Face access token (hf_…)")
        self.edit.setClearButtonEnabled(True)
        self.save_button = QPushButton("Save token")
        self.remove_button = QPushButton("Remove")
        self.message = QLabel("")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.message.hide()
        self.save_button.clicked.connect(self._on_save_clicked)
        self.edit.returnPressed.connect(self._on_save_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self._set_busy(True)
        self._run(read_token)

    @property
    def state(self) -> TokenState | None:
        return self._state

    def _run(self, fn: object, *args: object) -> None:
        (
            Op(fn, *args)  # type: ignore[arg-type]
            .success(self._on_state)
            .failure(self._on_failed)
            .owned_by(self)
            .run_in(self._services.pools.io)
        )

    def _set_busy(self, busy: bool) -> None:
        env = self._state is not None and self._state.source is TokenSource.ENVIRONMENT
        self.edit.setEnabled(not busy and not env)
        self.save_button.setEnabled(not busy and not env)
        self.remove_button.setEnabled(
            not busy and not env and self._state is not None and self._state.present
        )

    def _show_message(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else "")
        self.message.setVisible(bool(text))

    @Slot()
    def _on_save_clicked(self) -> None:
        token = self.edit.text()
        if not token.strip():
            self._show_message("Paste a token first.", True)
            return
        self._set_busy(True)
        self._show_message("", False)
        self._run(save_token, token)

    @Slot()
    def _on_remove_clicked(self) -> None:
        self._set_busy(True)
        self._run(clear_token)

    def _on_state(self, state: TokenState) -> None:
        before = self._state
        self._state = state
        self.edit.clear()
        if state.source is TokenSource.ENVIRONMENT:
            text = f"Token {state.masked}, set by the HF_TOKEN environment variable."
        elif state.present:
            text = (
                f"Token {state.masked} is saved, shared with the hf command and Python "
                "scripts on this computer."
            )
        else:
            text = "No token saved. Public models need none; gated models need one."
        self.status.setText(text)
        self.status.setToolTip(f"huggingface_hub's token file: {state.file}")
        if before is not None:
            self._show_message("Saved." if state.present else "Token removed.", False)
        self._set_busy(False)

    def _on_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self._show_message(f"Not saved: {describe_token_error(exc)}.", True)
