"""Chat: talk to a local model in its own worker process, with history kept in SQLite.

Threads: the model runs in a worker process (EngineBridge delivers its events on the GUI
thread, tokens batched); every database call runs on the single-thread ``db`` pool in order,
so the GUI thread never waits on the disk or the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.chat_store import Message
from desktop_app.core.engine.client import DoesNotFitError
from desktop_app.core.engine.protocol import (
    SAMPLING_PRESETS,
    ChatMessage,
    Done,
    ErrorCode,
    Failed,
    Loaded,
    LoadProgress,
    LoadSettings,
    Notice,
    Token,
    Unloaded,
)
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_engine_failure, describe_error
from desktop_app.ui.chat_session import ChatSession
from desktop_app.ui.engine_bridge import EngineBridge
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op
from desktop_app.ui.widgets.conversation_panel import ConversationPanel
from desktop_app.ui.widgets.message_view import MessageView
from desktop_app.ui.widgets.model_bar import ModelBar

SAVE_INTERVAL_S = 1.0  # a kill -9 loses at most this much of a streaming reply


@dataclass
class _Reply:
    request_id: int
    view: MessageView
    text: str = ""
    last_save: float = 0.0


class ChatPage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.bridge = EngineBridge(self)
        self.bridge.event_received.connect(self._on_engine_event)
        self.bridge.tokens_arrived.connect(self._on_tokens)
        self.session = ChatSession(services, self)
        self.session.conversation_loaded.connect(self._show_conversation)
        self.session.failed.connect(self._show_banner)
        self._load_request = 0
        self._n_ctx = 0
        self._reply: _Reply | None = None
        self._views: list[MessageView] = []

        self.model_bar = ModelBar(services.paths.models)
        services.models_folder.changed.connect(self._on_models_folder_changed)
        self.model_bar.apply_settings(services.settings.settings)  # default ctx and threads
        services.settings.changed.connect(self.model_bar.apply_settings)
        self.model_bar.load_requested.connect(self._on_load_requested)
        self.model_bar.unload_requested.connect(self._on_unload_requested)
        self.model_bar.set_recent(self.session.recent_models())

        self.panel = ConversationPanel(self.session)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setStyleSheet(
            "background: rgba(214,69,65,0.15); border-radius: 4px; padding: 6px;"
        )
        self.banner.hide()
        self.system_prompt = QLineEdit()
        self.system_prompt.setPlaceholderText("System prompt for this conversation (optional)")
        self.system_prompt.editingFinished.connect(self._on_system_prompt_edited)

        self.transcript = QWidget()
        self._transcript_layout = QVBoxLayout(self.transcript)
        self._transcript_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.transcript)
        self.empty_hint = QLabel("Load a model, then type a message below.")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._transcript_layout.insertWidget(0, self.empty_hint)

        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Message (Ctrl+Enter to send, Esc to stop)")
        self.input.setMaximumHeight(110)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.clicked.connect(self.regenerate)
        self.edit_button = QPushButton("Edit last")
        self.edit_button.setToolTip("Put your last message back in the box to change and resend")
        self.edit_button.clicked.connect(self.edit_last)
        self.preset = QComboBox()
        for name in SAMPLING_PRESETS:
            self.preset.addItem(name)
        self.preset.setCurrentText("Balanced")
        self.gauge = QProgressBar()
        self.gauge.setFormat("%v / %m tokens")
        self.gauge.setRange(0, 1)
        self.gauge.setValue(0)
        self.gauge.setMinimumWidth(190)
        self.gauge.setMaximumWidth(240)
        self.reply_stats = QLabel("")

        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Sampling"))
        buttons.addWidget(self.preset)
        buttons.addWidget(self.gauge)
        buttons.addWidget(self.reply_stats, 1)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.regenerate_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)

        center = QVBoxLayout()
        center.addWidget(self.model_bar)
        center.addWidget(self.banner)
        center.addWidget(self.system_prompt)
        center.addWidget(self.scroll, 1)
        center.addWidget(self.input)
        center.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addLayout(center, 1)

        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.send)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.stop)
        self._update_buttons()
        self.session.open_store()

    # --- model ------------------------------------------------------------------------------

    @Slot(str, int, int)
    def _on_load_requested(self, path: str, n_ctx: int, threads: int, force: bool = False) -> None:
        new_chats = self._services.settings.settings  # Settings > New chats
        settings = LoadSettings(
            path=path,
            n_ctx=n_ctx,
            n_threads=threads or None,  # 0: auto
            kv_type=new_chats.default_kv_type,
            use_mmap=new_chats.map_model_files,
        )
        self.model_bar.set_loading(0.0)
        self._hide_banner()
        worker = self.bridge.worker if self.bridge.has_worker else self.bridge.restart()
        # The pre-check and fit estimate read the file: off the GUI thread.
        (
            Op(worker.load, settings, force=force)
            .success(self._on_load_sent)
            .failure(lambda exc: self._on_load_refused(exc, path, n_ctx, threads))
            .owned_by(self)
            .run_in(self._services.pools.io)
        )

    def _on_load_sent(self, request_id: int) -> None:
        self._load_request = request_id

    def _on_load_refused(self, exc: BaseException, path: str, n_ctx: int, threads: int) -> None:
        self.model_bar.set_loading(None)
        if isinstance(exc, DoesNotFitError):
            fit = exc.fit
            answer = QMessageBox.warning(
                self,
                "Model does not fit",
                f"This model needs about {human_bytes(fit.total)} at a context of {n_ctx:,} "
                f"tokens, but only {human_bytes(fit.available)} is available.\n\n"
                "Loading it anyway may make this computer swap heavily or the model process "
                "may be stopped by the system. A smaller context or quantization would fit "
                "better.",
                QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Ignore,
                QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Ignore:  # shown as "Load anyway"
                self._on_load_requested(path, n_ctx, threads, force=True)
            return
        self._show_banner(f"Could not load the model: {describe_error(exc)}")

    @Slot()
    def _on_unload_requested(self) -> None:
        self.stop()
        if self.bridge.has_worker:
            self.bridge.worker.unload()

    # --- conversation -----------------------------------------------------------------------

    def _show_conversation(self, messages: list[Message]) -> None:
        for view in self._views:
            view.deleteLater()
        self._views = []
        conv = self.session.conversation
        self.system_prompt.setText(conv.system_prompt if conv else "")
        for msg in messages:
            view = self._add_view(msg.role, msg.content)
            if msg.state == "interrupted":
                view.set_stats("interrupted")
        self._update_buttons()

    def _add_view(self, role: str, text: str) -> MessageView:
        view = MessageView(role, text)
        self._transcript_layout.insertWidget(self._transcript_layout.count() - 1, view)
        self._views.append(view)
        self.empty_hint.hide()
        bar = self.scroll.verticalScrollBar()
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi))
        return view

    @Slot()
    def _on_system_prompt_edited(self) -> None:
        self.session.set_system_prompt(self.system_prompt.text())

    @Slot()
    def send(self) -> None:
        text = self.input.toPlainText()
        if not text.strip() or self._reply is not None or not self._model_ready():
            return
        self.input.clear()
        self._add_view("user", text)
        self.session.add_user_message(text, model_path=self.model_bar.current_path())
        self._start_reply()

    def _start_reply(self) -> None:
        history = [ChatMessage(m.role, m.content) for m in self.session.history()]
        system = self.system_prompt.text().strip()
        if system:
            history.insert(0, ChatMessage("system", system))
        sampling = SAMPLING_PRESETS[self.preset.currentText()]
        request_id = self.bridge.worker.generate(messages=tuple(history), sampling=sampling)
        view = self._add_view("assistant", "")
        view.set_stats("thinking…")
        self._reply = _Reply(request_id, view, last_save=time.monotonic())
        self.session.begin_reply()
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        if self._reply is not None and self.bridge.has_worker:
            self.bridge.worker.cancel(self._reply.request_id)

    @Slot()
    def regenerate(self) -> None:
        if self._reply is not None or not self._model_ready():
            return
        if self.session.drop_last_reply() and self._views and self._views[-1].role == "assistant":
            self._views.pop().deleteLater()
        if self.session.history():
            self._start_reply()

    @Slot()
    def edit_last(self) -> None:
        if self._reply is not None:
            return
        text = self.session.drop_from_last_user_message()
        if text is None:
            return
        while self._views and self._views[-1].role != "user":
            self._views.pop().deleteLater()
        if self._views:
            self._views.pop().deleteLater()
        self.input.setPlainText(text)
        self.input.setFocus()
        self._update_buttons()

    # --- engine events ----------------------------------------------------------------------

    @Slot(list)
    def _on_tokens(self, tokens: list[Token]) -> None:
        reply = self._reply
        if reply is None:
            return
        reply.text += "".join(t.text for t in tokens if t.request_id == reply.request_id)
        reply.view.set_text(reply.text)
        reply.view.set_stats("")
        now = time.monotonic()
        if now - reply.last_save >= SAVE_INTERVAL_S:
            reply.last_save = now
            self.session.save_partial_reply(reply.text)

    @Slot(object)
    def _on_engine_event(self, event: object) -> None:
        if isinstance(event, LoadProgress):
            self.model_bar.set_loading(event.fraction)
        elif isinstance(event, Loaded):
            info = event.info
            self._n_ctx = info.n_ctx
            self.model_bar.set_loading(None)
            template = "" if info.chat_template == "model" else ", generic chat template"
            threads = f"{info.n_threads} thread{'s' if info.n_threads != 1 else ''}"
            if info.threads_auto:
                threads = f"threads auto (up to {info.n_threads})"
            where = "mapped from the file" if info.use_mmap else "in the model process's own memory"
            details = f"Loaded in {info.load_seconds:.1f} s. Weights {where}."
            if info.huge_page_bytes:
                details += f" {human_bytes(info.huge_page_bytes)} on 2 MiB pages (faster to read)."
            self.model_bar.set_loaded(
                True, f"Loaded, {human_bytes(info.rss_bytes)} in use, {threads}{template}", details
            )
            self.gauge.setRange(0, info.n_ctx)
            self.model_bar.set_recent(self.session.remember_model(info.path))
            self._update_buttons()
        elif isinstance(event, Unloaded):
            self._n_ctx = 0
            self.model_bar.set_loaded(False, "No model loaded")
            self._update_buttons()
        elif isinstance(event, Done):
            self._finish_reply(event)
        elif isinstance(event, Notice):
            if event.code == "context_trimmed":
                self._show_banner(
                    f"This conversation is longer than the context: the oldest {event.detail} "
                    "message(s) are not seen by the model. They stay in the history.",
                    warning=True,
                )
            elif event.code == "template_fallback":
                if event.detail == "no chat template":
                    text = "This model has no chat template of its own; a generic one is used."
                else:
                    text = (
                        "The model's own chat template failed, so a generic one is used "
                        f"({event.detail})."
                    )
                self._show_banner(text, warning=True)
        elif isinstance(event, Failed):
            self._on_failed(event)

    def _finish_reply(self, event: Done) -> None:
        reply = self._reply
        if reply is None or event.request_id != reply.request_id:
            return
        self._reply = None
        s = event.stats
        reply.text = event.text
        reply.view.set_text(event.text)
        cancelled = s.finish_reason == "cancelled"
        stats = (
            f"{s.generated_tokens} tokens, {s.gen_tps:.1f} tok/s, "
            f"first token {s.ttft_s:.2f} s, {s.threads} thread{'s' if s.threads != 1 else ''}"
            + (" — stopped" if cancelled else "")
        )
        reply.view.set_stats(stats)
        self.reply_stats.setText(stats)
        self.gauge.setValue(min(self.gauge.maximum(), s.prompt_tokens + s.generated_tokens))
        self.session.finish_reply(
            event.text,
            "interrupted" if cancelled else "complete",
            {
                "gen_tps": s.gen_tps,
                "ttft_s": s.ttft_s,
                "tokens": s.generated_tokens,
                "prompt_tokens": s.prompt_tokens,
            },
        )
        self._update_buttons()

    def _on_failed(self, event: Failed) -> None:
        if event.request_id == self._load_request or event.code == ErrorCode.WORKER_CRASHED:
            self.model_bar.set_loading(None)
        if event.code == ErrorCode.WORKER_CRASHED:
            self._n_ctx = 0
            self.model_bar.set_loaded(False, "Model process stopped")
        reply = self._reply
        if reply is not None and (
            event.request_id == reply.request_id or event.code == ErrorCode.WORKER_CRASHED
        ):
            self._reply = None
            reply.view.set_stats("interrupted")
            self.session.finish_reply(reply.text, "error", {"error": event.code.value})
        self._show_banner(describe_engine_failure(event.code, event.detail, event.facts))
        self._update_buttons()

    # --- helpers ----------------------------------------------------------------------------

    def _model_ready(self) -> bool:
        return self._n_ctx > 0 and self.bridge.has_worker

    def _update_buttons(self) -> None:
        streaming = self._reply is not None
        ready = self._model_ready()
        self.send_button.setEnabled(ready and not streaming)
        self.stop_button.setEnabled(streaming)
        has_history = bool(self.session.history())
        self.regenerate_button.setEnabled(ready and not streaming and has_history)
        self.edit_button.setEnabled(not streaming and has_history)

    def _show_banner(self, text: str, warning: bool = False) -> None:
        color = "rgba(208,138,0,0.18)" if warning else "rgba(214,69,65,0.15)"
        self.banner.setStyleSheet(f"background: {color}; border-radius: 4px; padding: 6px;")
        self.banner.setText(text)
        self.banner.show()

    def _hide_banner(self) -> None:
        self.banner.hide()

    @Slot(object, object)
    def _on_models_folder_changed(self, _old: Path, new: Path) -> None:
        self.model_bar.set_start_dir(new)

    def shutdown(self) -> None:
        """Window closing: stop the reply, save it, end the worker, close the store."""
        reply = self._reply
        if reply is not None:
            self._reply = None
            self.session.finish_reply(reply.text, "interrupted", {})
        self.bridge.shutdown(timeout=5.0)
        self.session.close()
